//! The monitoring export of refugee minors' requests for hubs and the
//! office: one row per request, workflow facts and places only (no names,
//! no contacts), so that it can circulate among those who plan places.

use super::Cell;
use crate::db::refugees::ExportRow;
use crate::rules::refugees::age_band;
use crate::rules::support::stored_order_label;

/// The sheet's name.
pub const SHEET: &str = "Richieste";

pub const HEADERS: [&str; 15] = [
    "Richiesta",
    "Stato",
    "Inserita da",
    "Comune",
    "Codice ISTAT",
    "Polo (CTI/START)",
    "Scuola",
    "Ordine",
    "Classe",
    "Età",
    "Fascia d'età",
    "Nazionalità",
    "Arrivo in Italia",
    "Data richiesta",
    "Giorni di attesa",
];

fn status_label(s: &str) -> &'static str {
    match s {
        "submitted" => "inserita",
        "in_charge" => "presa in carico",
        "proposed" => "proposta alla scuola",
        "declined" => "rifiutata dalla scuola",
        "enrolled" => "iscritto",
        "withdrawn" => "ritirata",
        _ => "sconosciuto",
    }
}

pub fn cells(r: &ExportRow) -> Vec<Cell> {
    use Cell::*;
    vec![
        Number(i32::try_from(r.id).unwrap_or(i32::MAX)),
        Text(status_label(&r.status).into()),
        Text(if r.origin == "school" { "scuola" } else { "comune" }.into()),
        Text(r.municipality.clone()),
        Text(r.municipality_istat.clone()),
        Text(r.hub_code.clone()),
        r.institution_code.clone().map_or(Empty, Text),
        Text(stored_order_label(&r.school_order)),
        Number(r.year_of_study),
        Number(r.age),
        Text(age_band(r.age).into()),
        Text(r.nationality.clone()),
        Date(r.arrived_on),
        Date(r.entered_on),
        Number(r.days_waiting),
    ]
}
