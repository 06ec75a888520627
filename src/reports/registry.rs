//! "Scarica dettaglio anagrafica": the registry of pupils as a spreadsheet
//! (`.xlsx`, typed cells) or as CSV (`;`-separated UTF-8, as Italian
//! spreadsheets expect).

use super::Cell;

use crate::db::registry::ExportRow;
use crate::rules::support::{self, Ratio};

/// The sheet's name.
pub const SHEET: &str = "Anagrafica";

/// Column headers, in the order of [`cells`].
pub const HEADERS: [&str; 21] = [
    "Provincia",
    "Codice istituto",
    "Istituto",
    "Codice plesso",
    "Plesso",
    "Comune",
    "Ordine",
    "Classe",
    "Sezione",
    "Cognome",
    "Nome",
    "Codice fiscale",
    "Data di nascita",
    "Sesso",
    "Certificazione",
    "Data certificazione",
    "Data revisione",
    "Ente certificatore",
    "Rapporto",
    "Ore richieste",
    "Ore approvate",
];

fn severity_label(stored: &str) -> &'static str {
    if stored == "c3" { "art. 3 c. 3 (grave)" } else { "art. 3 c. 1" }
}

/// The cells of one row, in the order of [`HEADERS`].
pub fn cells(r: &ExportRow) -> Vec<Cell> {
    use Cell::*;
    let opt_num = |v: Option<i32>| v.map_or(Empty, Number);
    vec![
        Text(r.province_code.clone()),
        Text(r.institution_code.clone()),
        Text(r.institution_name.clone()),
        Text(r.site_code.clone()),
        Text(r.site_name.clone()),
        Text(r.municipality.clone()),
        Text(support::stored_order_label(&r.school_order)),
        Number(r.year_of_study),
        Text(r.section.clone()),
        Text(r.last_name.clone()),
        Text(r.first_name.clone()),
        Text(r.tax_code.clone()),
        Date(r.birth_date),
        Text(r.sex.clone()),
        Text(severity_label(&r.severity).to_owned()),
        Date(r.certified_on),
        r.revision_on.map_or(Empty, Date),
        Text(r.certified_by.clone()),
        r.ratio.and_then(Ratio::pupils).map_or(Empty, |x| Text(x.to_string())),
        opt_num(r.hours),
        opt_num(r.approved_hours),
    ]
}
