//! Files for people: spreadsheets and PDF documents built from rows, with no I/O.

pub mod admissions;
pub mod mobility;
pub mod pdf;
pub mod refugees;
pub mod registry;
pub mod summary;

use rust_xlsxwriter::{Format, FormatAlign, Workbook, XlsxError};

/// A cell of a spreadsheet, typed as the spreadsheet should store it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Number(i32),
    /// Hundredths, shown with two decimals (points).
    Hundredths(i64),
    Date(chrono::NaiveDate),
    Empty,
}

/// One sheet as an `.xlsx` workbook: a bold frozen header row with filters,
/// dates as dates (dd/mm/yyyy) and numbers as numbers.
pub fn xlsx(sheet_name: &str, headers: &[&str], rows: impl Iterator<Item = Vec<Cell>>) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name)?;
    let bold = Format::new().set_bold().set_align(FormatAlign::Center);
    let date = Format::new().set_num_format("dd/mm/yyyy");
    let two = Format::new().set_num_format("0.00");
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    let mut count = 0u32;
    for (i, cells) in rows.enumerate() {
        let row = i as u32 + 1;
        count = row;
        for (c, cell) in cells.into_iter().enumerate() {
            let col = c as u16;
            match cell {
                Cell::Text(s) => sheet.write_string(row, col, s)?,
                Cell::Number(n) => sheet.write_number(row, col, f64::from(n))?,
                Cell::Hundredths(n) => sheet.write_number_with_format(row, col, n as f64 / 100.0, &two)?,
                Cell::Date(d) => sheet.write_date_with_format(row, col, d, &date)?,
                Cell::Empty => sheet,
            };
        }
    }
    sheet.autofilter(0, 0, count, headers.len() as u16 - 1)?;
    sheet.autofit();
    book.save_to_buffer()
}

/// Text a spreadsheet will not take for a formula. A cell that starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`, as
/// OWASP advises against CSV injection: a school-entered name such as
/// `=HYPERLINK(…)` then shows as the text it is when the office opens the
/// file. (The xlsx writer stores every text cell as a string already.)
pub fn neutralised(text: String) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text,
    }
}

/// One sheet as CSV: UTF-8 with a byte-order mark, `;` between fields, ISO
/// dates, so that both LibreOffice and an Italian Excel open it right. Text
/// cells are [`neutralised`]; numbers and dates are the server's own.
pub fn csv(headers: &[&str], rows: impl Iterator<Item = Vec<Cell>>) -> Result<Vec<u8>, csv::Error> {
    let mut out = Vec::from("\u{feff}".as_bytes());
    {
        let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(&mut out);
        w.write_record(headers)?;
        for cells in rows {
            w.write_record(cells.into_iter().map(|c| match c {
                Cell::Text(s) => neutralised(s),
                Cell::Number(n) => n.to_string(),
                // A comma, as an Italian spreadsheet reads decimals.
                Cell::Hundredths(n) => {
                    format!("{}{},{:02}", if n < 0 { "-" } else { "" }, n.abs() / 100, n.abs() % 100)
                }
                Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
                Cell::Empty => String::new(),
            }))?;
        }
        w.flush()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_text_that_a_spreadsheet_would_run_is_written_as_text() {
        for hostile in ["=HYPERLINK(\"http://x\",\"y\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            let out = csv(&["name"], std::iter::once(vec![Cell::Text(hostile.into())])).unwrap();
            let mut r = ::csv::ReaderBuilder::new().delimiter(b';').from_reader(&out[3..]);
            let cell = r.records().next().unwrap().unwrap()[0].to_owned();
            assert_eq!(cell, format!("'{hostile}"), "{hostile:?}");
        }
        for plain in ["Rossi", "D'Amico", "", "1A"] {
            assert_eq!(neutralised(plain.into()), plain);
        }
    }
}
