//! Decoding and CSV reading shared by the importers.

use super::RowError;

/// Decodes a file that must be UTF-8 (the Ministry's files). A byte-order mark is dropped.
pub fn utf8(bytes: &[u8]) -> Result<&str, RowError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        RowError::new(
            line,
            None,
            "the file is not valid UTF-8 text (wrong encoding?)",
        )
    })
}

/// Decodes a file published in Latin-1 (ISTAT), accepting UTF-8 too since
/// ISTAT also ships that. Binary content (NUL bytes) is refused.
pub fn latin1_or_utf8(bytes: &[u8]) -> Result<String, RowError> {
    if let Some(pos) = bytes.iter().position(|b| *b == 0) {
        let line = 1 + bytes[..pos].iter().filter(|b| **b == b'\n').count() as u64;
        return Err(RowError::new(
            line,
            None,
            "the file contains NUL bytes: not a text file (UTF-16?)",
        ));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Ok(encoding_rs::mem::decode_latin1(bytes).into_owned()),
    }
}

/// A CSV reader over decoded text with the publisher's delimiter.
pub fn reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes())
}

/// Header names with whitespace (including line breaks inside quotes) collapsed.
pub fn normalized_headers(rdr: &mut csv::Reader<&[u8]>) -> Result<Vec<String>, RowError> {
    let headers = rdr
        .headers()
        .map_err(|e| RowError::new(1, None, format!("unreadable header: {e}")))?;
    Ok(headers
        .iter()
        .map(|h| h.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect())
}

/// Position of the column whose normalized name starts with `prefix`.
pub fn column(headers: &[String], prefix: &str) -> Option<usize> {
    headers.iter().position(|h| h.starts_with(prefix))
}

/// The Ministry writes "Non Disponibile" (or "ND") for a missing value.
pub fn optional(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("Non Disponibile") || v == "ND" {
        None
    } else {
        Some(v.to_owned())
    }
}

/// Reads every record, turning reader errors into row errors.
pub fn records(
    rdr: &mut csv::Reader<&[u8]>,
    expected_len: usize,
    errors: &mut Vec<RowError>,
) -> Vec<(u64, csv::StringRecord)> {
    let mut out = Vec::new();
    for rec in rdr.records() {
        match rec {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                if r.len() == 1 && r.get(0).is_some_and(|s| s.trim().is_empty()) {
                    continue; // a blank line
                }
                if r.len() != expected_len {
                    errors.push(RowError::new(
                        line,
                        None,
                        format!("has {} fields, expected {expected_len}", r.len()),
                    ));
                    continue;
                }
                out.push((line, r));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(RowError::new(line, None, format!("unreadable row: {e}")));
            }
        }
    }
    out
}
