//! Decoding and CSV reading shared by the importers.

use chrono::NaiveDate;

use super::RowError;

/// Decodes a file that must be UTF-8 (the Ministry's files). A byte-order mark is dropped.
pub fn utf8(bytes: &[u8]) -> Result<&str, RowError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() as u64;
        RowError::new(line, None, "the file is not valid UTF-8 text (wrong encoding?)")
    })
}

/// The header of a file as text, whatever its encoding, to recognise its layout.
pub fn lossy_headers(bytes: &[u8], delimiter: u8) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut rdr = reader(&text, delimiter);
    normalized_headers(&mut rdr).unwrap_or_default()
}

/// Decodes a file published in Latin-1 (ISTAT), accepting UTF-8 too since
/// ISTAT also ships that. Binary content (NUL bytes) is refused.
pub fn latin1_or_utf8(bytes: &[u8]) -> Result<String, RowError> {
    if let Some(pos) = bytes.iter().position(|b| *b == 0) {
        let line = 1 + bytes[..pos].iter().filter(|b| **b == b'\n').count() as u64;
        return Err(RowError::new(line, None, "the file contains NUL bytes: not a text file (UTF-16?)"));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Ok(encoding_rs::mem::decode_latin1(bytes).into_owned()),
    }
}

/// A CSV reader over decoded text with the publisher's delimiter.
pub fn reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).flexible(true).from_reader(text.as_bytes())
}

/// Header names with whitespace (including line breaks inside quotes) collapsed.
pub fn normalized_headers(rdr: &mut csv::Reader<&[u8]>) -> Result<Vec<String>, RowError> {
    let headers = rdr.headers().map_err(|e| RowError::new(1, None, format!("unreadable header: {e}")))?;
    Ok(headers.iter().map(|h| h.split_whitespace().collect::<Vec<_>>().join(" ")).collect())
}

/// Position of the column whose normalized name starts with `prefix`.
pub fn column(headers: &[String], prefix: &str) -> Option<usize> {
    headers.iter().position(|h| h.starts_with(prefix))
}

/// The Ministry writes "Non Disponibile", "ND" or dashes for a missing value.
pub fn optional(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("Non Disponibile") || v == "ND" || v.bytes().all(|b| b == b'-') {
        None
    } else {
        Some(v.to_owned())
    }
}

/// Physical line numbers (1-based) of byte offsets. The csv reader's own
/// line count skips line breaks inside quoted fields, as in ISTAT's header.
pub struct Lines(Vec<usize>);

impl Lines {
    pub fn new(text: &str) -> Lines {
        Lines(text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i).collect())
    }

    pub fn at(&self, byte: u64) -> u64 {
        // With CRLF endings the reader puts a record's start on the "\n" before it.
        self.0.partition_point(|nl| (*nl as u64) <= byte) as u64 + 1
    }
}

/// Reads every record, turning reader errors into row errors.
pub fn records(
    rdr: &mut csv::Reader<&[u8]>,
    lines: &Lines,
    expected_len: usize,
    errors: &mut Vec<RowError>,
) -> Vec<(u64, csv::StringRecord)> {
    let mut out = Vec::new();
    for rec in rdr.records() {
        match rec {
            Ok(r) => {
                let line = r.position().map_or(0, |p| lines.at(p.byte()));
                if r.len() == 1 && r.get(0).is_some_and(|s| s.trim().is_empty()) {
                    continue; // a blank line
                }
                if r.len() != expected_len {
                    errors.push(RowError::new(line, None, format!("has {} fields, expected {expected_len}", r.len())));
                    continue;
                }
                out.push((line, r));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(p.byte()));
                errors.push(RowError::new(line, None, format!("unreadable row: {e}")));
            }
        }
    }
    out
}

// Files that people write (the school's, the office's): a fixed header, `;`
// or `,` between fields.

/// Lines with their fields, and the lines that could not be split.
type Records = (Vec<(u64, Vec<String>)>, Vec<RowError>);

/// The records of a file with its header checked against `columns`, which
/// may be followed by the `optional` one (then every line has it too).
fn fixed_records(text: &str, columns: &[&str], optional: Option<&str>) -> Result<Records, Vec<RowError>> {
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or("");
    let delimiter = if first.contains(';') || !first.contains(',') { b';' } else { b',' };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).from_reader(text.as_bytes());
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|c| c.trim().to_owned()).collect(),
        Err(e) => return Err(vec![RowError { line: 1, field: None, reason: e.to_string() }]),
    };
    let with_optional = optional.is_some() && header.last().map(String::as_str) == optional;
    let width = columns.len() + usize::from(with_optional);
    if header.len() != width || header.iter().map(String::as_str).zip(columns).any(|(h, c)| h != *c) {
        let more = optional.map(|o| format!(" (and optionally ;{o})")).unwrap_or_default();
        let reason = format!("the header must be: {}{more}", columns.join(";"));
        return Err(vec![RowError { line: 1, field: None, reason }]);
    }
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (i, r) in reader.records().enumerate() {
        let line = i as u64 + 2;
        match r {
            Ok(r) if r.len() == width => out.push((line, r.iter().map(|c| c.trim().to_owned()).collect())),
            Ok(r) => {
                errors.push(RowError { line, field: None, reason: format!("{} fields, {width} expected", r.len()) })
            }
            Err(e) => errors.push(RowError { line, field: None, reason: e.to_string() }),
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(RowError { line: 2, field: None, reason: "the file has no lines after its header".into() });
    }
    Ok((out, errors))
}

/// A day as `2027-01-10` or `10/01/2027`.
pub fn date(v: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(v, "%d/%m/%Y"))
        .map_err(|_| "a date as 2027-01-10 or 10/01/2027".to_owned())
}

/// `sì`/`no` (and the usual spellings); empty is no.
pub fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_lowercase().as_str() {
        "" | "no" | "n" | "false" | "0" => Ok(false),
        "sì" | "si" | "s" | "yes" | "true" | "1" => Ok(true),
        _ => Err("sì or no".into()),
    }
}

/// Parses every line of a file with `row`: the parsed lines, or every bad
/// line of the file (a bad header is the only error then).
pub fn each<T>(
    text: &str,
    columns: &[&str],
    row: impl Fn(u64, &[String]) -> Result<T, RowError>,
) -> Result<Vec<T>, Vec<RowError>> {
    each_with(text, columns, None, row)
}

/// [`each`] for a file whose header may end with one `optional` column,
/// added after the format was published, so files written before it still
/// load: `row` then finds that field past `columns`.
pub fn each_with<T>(
    text: &str,
    columns: &[&str],
    optional: Option<&str>,
    row: impl Fn(u64, &[String]) -> Result<T, RowError>,
) -> Result<Vec<T>, Vec<RowError>> {
    let (lines, mut errors) = fixed_records(text, columns, optional)?;
    let mut out = Vec::with_capacity(lines.len());
    for (line, fields) in lines {
        match row(line, &fields) {
            Ok(v) => out.push(v),
            Err(e) => errors.push(e),
        }
    }
    errors.sort_by_key(|e| e.line);
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}
