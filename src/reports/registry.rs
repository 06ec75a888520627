//! "Scarica dettaglio anagrafica": the registry of pupils as a spreadsheet
//! (`.xlsx`, typed cells) or as CSV (`;`-separated UTF-8, as Italian
//! spreadsheets expect).

use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};

use crate::db::registry::ExportRow;
use crate::rules::support::{self, Ratio};

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

/// A cell of the export, typed as the spreadsheet should store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(i32),
    Date(chrono::NaiveDate),
    Empty,
}

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

/// The registry as an `.xlsx` workbook: one sheet, a bold frozen header row,
/// dates as dates (dd/mm/yyyy) and hours as numbers.
pub fn xlsx(rows: &[ExportRow]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("Anagrafica")?;
    let bold = Format::new().set_bold().set_align(FormatAlign::Center);
    let date = Format::new().set_num_format("dd/mm/yyyy");
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (i, r) in rows.iter().enumerate() {
        let row = i as u32 + 1;
        for (c, cell) in cells(r).into_iter().enumerate() {
            let col = c as u16;
            match cell {
                Cell::Text(s) => sheet.write_string(row, col, s)?,
                Cell::Number(n) => sheet.write_number(row, col, f64::from(n))?,
                Cell::Date(d) => sheet.write_date_with_format(row, col, d, &date)?,
                Cell::Empty => sheet,
            };
        }
    }
    sheet.autofilter(0, 0, rows.len() as u32, HEADERS.len() as u16 - 1)?;
    sheet.autofit();
    book.save_to_buffer()
}

/// The registry as CSV: UTF-8 with a byte-order mark, `;` between fields,
/// ISO dates, so that both LibreOffice and an Italian Excel open it right.
pub fn csv(rows: &[ExportRow]) -> Result<Vec<u8>, csv::Error> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(&mut out);
        w.write_record(HEADERS)?;
        for r in rows {
            w.write_record(cells(r).into_iter().map(|c| match c {
                Cell::Text(s) => s,
                Cell::Number(n) => n.to_string(),
                Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
                Cell::Empty => String::new(),
            }))?;
        }
        w.flush()?;
    }
    Ok(out)
}
