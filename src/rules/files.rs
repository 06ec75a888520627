//! What an attachment may be, with no I/O: the allowed file types and their
//! magic bytes, safe file names, and the byte ranges a download may ask for.

use std::ops::Range;

/// The file types Ambito stores: documents and scans, nothing executable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Pdf,
    /// A CMS (PKCS #7) signed envelope, `.p7m` (CAdES), DER-encoded.
    P7m,
    Png,
    Jpeg,
    Tiff,
}

/// Bytes of a file's start that [`FileType::detect`] needs to decide.
pub const SNIFF: usize = 32;

/// DER of the CMS `signedData` content type, 1.2.840.113549.1.7.2.
const SIGNED_DATA: &[u8] = &[0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02];

impl FileType {
    pub const ALL: [FileType; 5] = [FileType::Pdf, FileType::P7m, FileType::Png, FileType::Jpeg, FileType::Tiff];

    pub fn mime(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::P7m => "application/pkcs7-mime",
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
            FileType::Tiff => "image/tiff",
        }
    }

    fn label(self) -> &'static str {
        match self {
            FileType::Pdf => "a PDF",
            FileType::P7m => "a signed .p7m file",
            FileType::Png => "a PNG image",
            FileType::Jpeg => "a JPEG image",
            FileType::Tiff => "a TIFF image",
        }
    }

    /// The type a client declares, by MIME type (parameters ignored; the
    /// common aliases of `.p7m` accepted).
    pub fn from_content_type(ct: &str) -> Result<FileType, String> {
        let base = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let found = match base.as_str() {
            "application/pdf" => Some(FileType::Pdf),
            "application/pkcs7-mime" | "application/x-pkcs7-mime" | "application/pkcs7-signature" => {
                Some(FileType::P7m)
            }
            "image/png" => Some(FileType::Png),
            "image/jpeg" | "image/jpg" => Some(FileType::Jpeg),
            "image/tiff" => Some(FileType::Tiff),
            _ => None,
        };
        found.ok_or_else(|| {
            let allowed: Vec<&str> = FileType::ALL.iter().map(|t| t.mime()).collect();
            format!("must be one of {}", allowed.join(", "))
        })
    }

    /// The type the content is, from its first bytes, if it is an allowed one.
    pub fn detect(head: &[u8]) -> Option<FileType> {
        if head.starts_with(b"%PDF-") {
            Some(FileType::Pdf)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(FileType::Png)
        } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(FileType::Jpeg)
        } else if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
            Some(FileType::Tiff)
        } else if is_signed_data(head) {
            Some(FileType::P7m)
        } else {
            None
        }
    }

    /// Whether content starting with `head` is what was declared.
    pub fn check(self, head: &[u8]) -> Result<(), String> {
        match FileType::detect(head) {
            Some(t) if t == self => Ok(()),
            Some(t) => Err(format!("the content is {}, not {} as declared", t.label(), self.label())),
            None => Err(format!(
                "the content is not {}: only PDF, signed .p7m, PNG, JPEG and TIFF are accepted",
                self.label()
            )),
        }
    }
}

/// A DER `SEQUENCE` (definite or indefinite length) whose first element is
/// the `signedData` object identifier.
fn is_signed_data(head: &[u8]) -> bool {
    let Some((&0x30, rest)) = head.split_first() else { return false };
    let Some((&len, rest)) = rest.split_first() else { return false };
    let skip = match len {
        0x80 => 0,
        0x00..=0x7F => 0,
        0x81..=0x84 => usize::from(len - 0x80),
        _ => return false,
    };
    rest.get(skip..).is_some_and(|r| r.starts_with(SIGNED_DATA))
}

/// Longest file name kept, in characters.
pub const MAX_NAME: usize = 200;

/// The name a user gave a file, made safe to show and to send back in a
/// header: no directories, no control or quoting characters, no leading
/// dots, bounded length. It is only ever a label, never a storage key.
pub fn sanitize_file_name(name: &str) -> Result<String, String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut clean = String::with_capacity(base.len());
    let mut space = false;
    for c in base.chars() {
        let c = if c.is_control() || matches!(c, '"' | '<' | '>' | ':' | '|' | '?' | '*' | ';') { ' ' } else { c };
        if c.is_whitespace() {
            space = true;
            continue;
        }
        if space && !clean.is_empty() {
            clean.push(' ');
        }
        space = false;
        clean.push(c);
    }
    let clean: String = clean.trim_start_matches('.').chars().take(MAX_NAME).collect();
    let clean = clean.trim_end().to_owned();
    if clean.is_empty() {
        return Err("must name a file, e.g. verbale.pdf".into());
    }
    Ok(clean)
}

/// `Content-Disposition` for a download: always an attachment, with an ASCII
/// fallback name and the exact name in RFC 5987 encoding.
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeAsk {
    /// No range, or one this server ignores (several ranges): the whole file.
    Whole,
    /// One satisfiable range, end exclusive.
    Part(Range<u64>),
    /// A range outside the file: 416.
    Unsatisfiable,
}

/// Reads a `Range` header (RFC 9110): `bytes=a-b`, `bytes=a-`, `bytes=-n`.
/// Malformed headers and multiple ranges are ignored, as the RFC allows.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeAsk {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeAsk::Whole };
    if spec.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeAsk::Whole };
    let (a, b) = (a.trim(), b.trim());
    let num =
        |s: &str| if s.bytes().all(|c| c.is_ascii_digit()) && !s.is_empty() { s.parse::<u64>().ok() } else { None };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeAsk::Whole,
        (true, false) => match num(b) {
            None => RangeAsk::Whole,
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if size == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part(size.saturating_sub(n)..size),
        },
        (false, _) => {
            let Some(start) = num(a) else { return RangeAsk::Whole };
            let end = if b.is_empty() {
                size
            } else {
                match num(b) {
                    Some(e) if e >= start => e.saturating_add(1).min(size),
                    _ => return RangeAsk::Whole,
                }
            };
            if start >= size { RangeAsk::Unsatisfiable } else { RangeAsk::Part(start..end) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_every_allowed_type_and_nothing_else() {
        let p7m_definite = [&[0x30, 0x82, 0x12, 0x34][..], SIGNED_DATA].concat();
        let p7m_indefinite = [&[0x30, 0x80][..], SIGNED_DATA].concat();
        let cases: [(&[u8], Option<FileType>); 11] = [
            (b"%PDF-1.7\n", Some(FileType::Pdf)),
            (b"\x89PNG\r\n\x1a\n\0\0", Some(FileType::Png)),
            (&[0xFF, 0xD8, 0xFF, 0xE0], Some(FileType::Jpeg)),
            (b"II*\0\x08", Some(FileType::Tiff)),
            (b"MM\0*\0", Some(FileType::Tiff)),
            (&p7m_definite, Some(FileType::P7m)),
            (&p7m_indefinite, Some(FileType::P7m)),
            (b"MZ\x90\0", None),
            (b"<html>", None),
            (&[0x30, 0x82, 0x12, 0x34, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01], None),
            (b"", None),
        ];
        for (head, want) in cases {
            assert_eq!(FileType::detect(head), want, "{head:?}");
        }
    }

    #[test]
    fn declared_type_must_match_the_content() {
        assert_eq!(FileType::from_content_type("application/pdf; charset=binary"), Ok(FileType::Pdf));
        assert_eq!(FileType::from_content_type("application/x-pkcs7-mime"), Ok(FileType::P7m));
        assert!(FileType::from_content_type("text/html").unwrap_err().contains("application/pdf"));
        assert!(FileType::Pdf.check(b"%PDF-1.4").is_ok());
        assert!(FileType::Pdf.check(b"\x89PNG\r\n\x1a\n").unwrap_err().contains("PNG"));
        assert!(FileType::Png.check(b"#!/bin/sh").unwrap_err().contains("only PDF"));
    }

    #[test]
    fn file_names_are_labels_not_paths() {
        let ok = |n: &str| sanitize_file_name(n).unwrap();
        assert_eq!(ok("verbale.pdf"), "verbale.pdf");
        assert_eq!(ok("../../etc/passwd"), "passwd");
        assert_eq!(ok("C:\\Users\\x\\Diagnosi funzionale.pdf"), "Diagnosi funzionale.pdf");
        assert_eq!(ok("  PEI\t2026\n\"def\".pdf "), "PEI 2026 def .pdf");
        assert_eq!(ok("...nascosto.pdf"), "nascosto.pdf");
        assert_eq!(ok("Profilo_di_funzionamento_àèìòù.pdf"), "Profilo_di_funzionamento_àèìòù.pdf");
        assert_eq!(ok(&"x".repeat(500)).chars().count(), MAX_NAME);
        for bad in ["", "   ", "dir/", "..", "\u{0}\u{7}"] {
            assert!(sanitize_file_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn disposition_is_always_an_attachment_with_both_names() {
        assert_eq!(
            content_disposition("Verbale è.pdf"),
            "attachment; filename=\"Verbale _.pdf\"; filename*=UTF-8''Verbale%20%C3%A8.pdf"
        );
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeAsk::*;
        let r = |h: &str, size| parse_range(Some(h), size);
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(r("bytes=0-0", 10), Part(0..1));
        assert_eq!(r("bytes=2-5", 10), Part(2..6));
        assert_eq!(r("bytes=2-", 10), Part(2..10));
        assert_eq!(r("bytes=4-100", 10), Part(4..10));
        assert_eq!(r("bytes=-3", 10), Part(7..10));
        assert_eq!(r("bytes=-30", 10), Part(0..10));
        assert_eq!(r("bytes=10-", 10), Unsatisfiable);
        assert_eq!(r("bytes=-0", 10), Unsatisfiable);
        assert_eq!(r("bytes=0-", 0), Unsatisfiable);
        assert_eq!(r("bytes=5-2", 10), Whole);
        assert_eq!(r("bytes=0-1,4-5", 10), Whole);
        assert_eq!(r("items=0-1", 10), Whole);
        assert_eq!(r("bytes=a-b", 10), Whole);
        assert_eq!(r("bytes=+1-2", 10), Whole);
    }
}
