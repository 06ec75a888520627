//! "Sintesi delle ore richieste per l'organico di sostegno": one school's
//! requested hours for a year as a PDF that the head teacher signs (PAdES).
//!
//! Built for PDF/A-2b: the font is embedded (DejaVu Sans, with its widths),
//! colours are device-independent (CalGray), and XMP metadata declares the
//! conformance and repeats the document information. Pupils appear by
//! internal code and initials only, never by name or tax code.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Timelike, Utc};
use pdf_writer::{Filter, Name, Pdf, Rect, Ref, Str, TextStr};
use sha2::Digest;

use crate::rules::school_year::SchoolYear;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const PAGE: (f32, f32) = (595.28, 841.89);
const MARGIN: f32 = 50.0;

/// A row of totals: an order and ratio, its pupils and hours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Total {
    pub order: String,
    pub ratio: String,
    pub pupils: i64,
    pub requested: i64,
    pub approved: i64,
}

/// A pupil as the summary shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub internal_code: String,
    pub initials: String,
    pub order: String,
    pub class: String,
    pub severity: String,
    pub ratio: String,
    pub hours: Option<i32>,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub school_code: String,
    pub school_name: String,
    pub municipality: String,
    pub year: SchoolYear,
    /// "bozza", "inviata", "restituita".
    pub state: String,
    pub generated_at: DateTime<Utc>,
    pub totals: Vec<Total>,
    pub pupils: Vec<Line>,
}

/// Initials of a pupil: `L. V.` for Luca Verdi.
pub fn initials(first: &str, last: &str) -> String {
    let i = |s: &str| s.chars().find(|c| c.is_alphabetic()).map(|c| c.to_uppercase().to_string()).unwrap_or_default();
    format!("{}. {}.", i(first), i(last))
}

/// Widths of the WinAnsi codes 32–255 in the embedded font, per 1000 em.
struct Metrics {
    widths: Vec<f32>,
    bbox: Rect,
    ascent: f32,
    descent: f32,
    cap_height: f32,
}

/// The character a WinAnsi code stands for, where it differs from Latin-1.
fn win_ansi_char(code: u8) -> Option<char> {
    match code {
        0x80 => Some('€'),
        0x91 => Some('‘'),
        0x92 => Some('’'),
        0x93 => Some('“'),
        0x94 => Some('”'),
        0x96 => Some('–'),
        0x97 => Some('—'),
        0x7f..=0x9f => None,
        c => Some(c as char),
    }
}

/// Text in WinAnsi bytes; characters outside it become `?`.
fn encode(text: &str) -> Vec<u8> {
    text.chars().map(|ch| (32u8..=255).find(|b| win_ansi_char(*b) == Some(ch)).unwrap_or(b'?')).collect()
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let face = ttf_parser::Face::parse(FONT, 0).expect("the bundled font parses");
        let scale = 1000.0 / f32::from(face.units_per_em());
        let widths = (32u8..=255)
            .map(|b| {
                win_ansi_char(b)
                    .and_then(|c| face.glyph_index(c))
                    .and_then(|g| face.glyph_hor_advance(g))
                    .map_or(0.0, |w| f32::from(w) * scale)
            })
            .collect();
        let b = face.global_bounding_box();
        Metrics {
            widths,
            bbox: Rect::new(
                f32::from(b.x_min) * scale,
                f32::from(b.y_min) * scale,
                f32::from(b.x_max) * scale,
                f32::from(b.y_max) * scale,
            ),
            ascent: f32::from(face.ascender()) * scale,
            descent: f32::from(face.descender()) * scale,
            cap_height: face.capital_height().map_or(700.0, |h| f32::from(h) * scale),
        }
    })
}

fn text_width(text: &str, size: f32) -> f32 {
    let m = metrics();
    encode(text).iter().map(|b| m.widths[usize::from(b - 32)]).sum::<f32>() * size / 1000.0
}

/// Lines of text placed on pages, top to bottom.
struct Layout {
    pages: Vec<Vec<(f32, f32, f32, String)>>,
    y: f32,
}

impl Layout {
    fn new() -> Layout {
        Layout { pages: vec![Vec::new()], y: PAGE.1 - MARGIN }
    }
    /// Moves down by `dy`, starting a new page when the bottom is reached.
    fn down(&mut self, dy: f32) {
        self.y -= dy;
        if self.y < MARGIN {
            self.pages.push(Vec::new());
            self.y = PAGE.1 - MARGIN - dy;
        }
    }
    fn text(&mut self, x: f32, size: f32, s: impl Into<String>) {
        let y = self.y;
        self.pages.last_mut().expect("a page").push((x, y, size, s.into()));
    }
    /// Right-aligned at `right`.
    fn number(&mut self, right: f32, size: f32, s: impl Into<String>) {
        let s = s.into();
        self.text(right - text_width(&s, size), size, s);
    }
}

/// Columns of the tables: x of each cell, numbers right-aligned at the end.
const TOTALS_X: [f32; 5] = [MARGIN, 240.0, 360.0, 450.0, 545.0];
const PUPILS_X: [f32; 7] = [MARGIN, 120.0, 175.0, 320.0, 370.0, 430.0, 545.0];

fn layout(s: &Summary) -> Layout {
    let mut l = Layout::new();
    l.text(MARGIN, 9.0, "Ufficio Scolastico Territoriale - Anagrafe degli alunni con disabilità");
    l.down(26.0);
    l.text(MARGIN, 15.0, "Sintesi delle ore richieste per l'organico di sostegno");
    l.down(20.0);
    l.text(MARGIN, 12.0, format!("Anno scolastico {}", s.year));
    l.down(24.0);
    l.text(MARGIN, 10.0, format!("Istituzione scolastica: {} - {}", s.school_code, s.school_name));
    l.down(14.0);
    l.text(MARGIN, 10.0, format!("Comune: {}", s.municipality));
    l.down(14.0);
    l.text(MARGIN, 10.0, format!("Stato della richiesta: {}", s.state));
    l.down(14.0);
    l.text(MARGIN, 10.0, format!("Generata il {} (UTC)", s.generated_at.format("%d/%m/%Y %H:%M")));
    l.down(26.0);

    l.text(MARGIN, 11.0, "Totali per ordine di scuola e rapporto");
    l.down(16.0);
    for (x, h) in TOTALS_X.iter().zip(["Ordine", "Rapporto", "Alunni", "Ore richieste", "Ore approvate"]) {
        if *x == MARGIN || h == "Rapporto" { l.text(*x, 9.0, h) } else { l.number(*x, 9.0, h) }
    }
    l.down(13.0);
    for t in &s.totals {
        l.text(TOTALS_X[0], 9.0, t.order.clone());
        l.text(TOTALS_X[1], 9.0, t.ratio.clone());
        l.number(TOTALS_X[2], 9.0, t.pupils.to_string());
        l.number(TOTALS_X[3], 9.0, t.requested.to_string());
        l.number(TOTALS_X[4], 9.0, t.approved.to_string());
        l.down(13.0);
    }
    let sum = |f: fn(&Total) -> i64| s.totals.iter().map(f).sum::<i64>().to_string();
    l.text(TOTALS_X[0], 9.0, "Totale");
    l.number(TOTALS_X[2], 9.0, sum(|t| t.pupils));
    l.number(TOTALS_X[3], 9.0, sum(|t| t.requested));
    l.number(TOTALS_X[4], 9.0, sum(|t| t.approved));
    l.down(13.0);
    l.text(MARGIN, 10.0, format!("Totale ore richieste: {}", sum(|t| t.requested)));
    l.down(26.0);

    l.text(MARGIN, 11.0, "Alunni (codice interno e iniziali)");
    l.down(16.0);
    let heads = ["Codice", "Iniziali", "Ordine", "Classe", "Certif.", "Rapporto", "Ore"];
    for (x, h) in PUPILS_X.iter().zip(heads) {
        if h == "Ore" { l.number(*x, 9.0, h) } else { l.text(*x, 9.0, h) }
    }
    l.down(13.0);
    for p in &s.pupils {
        l.text(PUPILS_X[0], 9.0, p.internal_code.clone());
        l.text(PUPILS_X[1], 9.0, p.initials.clone());
        l.text(PUPILS_X[2], 9.0, p.order.clone());
        l.text(PUPILS_X[3], 9.0, p.class.clone());
        l.text(PUPILS_X[4], 9.0, p.severity.clone());
        l.text(PUPILS_X[5], 9.0, p.ratio.clone());
        l.number(PUPILS_X[6], 9.0, p.hours.map_or_else(|| "-".into(), |h| h.to_string()));
        l.down(13.0);
    }
    l.down(30.0);
    l.text(330.0, 10.0, "Il Dirigente Scolastico");
    l.down(14.0);
    l.text(330.0, 9.0, "(documento firmato digitalmente)");
    l
}

fn deflate(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, 6)
}

fn pdf_date(t: DateTime<Utc>) -> pdf_writer::Date {
    pdf_writer::Date::new(t.year() as u16)
        .month(t.month() as u8)
        .day(t.day() as u8)
        .hour(t.hour() as u8)
        .minute(t.minute() as u8)
        .second(t.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn xmp(title: &str, producer: &str, at: DateTime<Utc>) -> String {
    let when = at.format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>
<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">
<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">
<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\"
 xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"
 xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\">
<pdfaid:part>2</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
<dc:format>application/pdf</dc:format>
<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">{}</rdf:li></rdf:Alt></dc:title>
<xmp:CreateDate>{when}</xmp:CreateDate>
<xmp:ModifyDate>{when}</xmp:ModifyDate>
<xmp:MetadataDate>{when}</xmp:MetadataDate>
<pdf:Producer>{}</pdf:Producer>
</rdf:Description>
</rdf:RDF>
</x:xmpmeta>
<?xpacket end=\"w\"?>",
        xml_escape(title),
        xml_escape(producer)
    )
}

/// The summary as PDF bytes.
pub fn pdf(s: &Summary) -> Vec<u8> {
    let l = layout(s);
    let m = metrics();
    let title = format!("Sintesi delle ore richieste per l'organico di sostegno {} {}", s.school_code, s.year);
    let producer = concat!("Ambito ", env!("CARGO_PKG_VERSION"));

    let mut next = 1;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let (catalog, tree, font, descriptor, file, meta, info) =
        (alloc(), alloc(), alloc(), alloc(), alloc(), alloc(), alloc());
    let pages: Vec<(Ref, Ref)> = l.pages.iter().map(|_| (alloc(), alloc())).collect();

    let mut pdf = Pdf::new();
    let digest = sha2::Sha256::digest(format!("{}|{}|{}", s.school_code, s.year, s.generated_at.to_rfc3339()));
    let id = digest[..16].to_vec();
    pdf.set_file_id((id.clone(), id));
    pdf.catalog(catalog).pages(tree).metadata(meta);
    pdf.pages(tree).kids(pages.iter().map(|p| p.0)).count(pages.len() as i32);

    let xmp = xmp(&title, producer, s.generated_at);
    pdf.metadata(meta, xmp.as_bytes());
    pdf.document_info(info)
        .title(TextStr(&title))
        .producer(TextStr(producer))
        .creation_date(pdf_date(s.generated_at))
        .modified_date(pdf_date(s.generated_at));

    {
        let mut f = pdf.indirect(font).dict();
        f.pair(Name(b"Type"), Name(b"Font"));
        f.pair(Name(b"Subtype"), Name(b"TrueType"));
        f.pair(Name(b"BaseFont"), Name(b"DejaVuSans"));
        f.pair(Name(b"FirstChar"), 32);
        f.pair(Name(b"LastChar"), 255);
        f.insert(Name(b"Widths")).array().items(m.widths.iter().copied());
        f.pair(Name(b"Encoding"), Name(b"WinAnsiEncoding"));
        f.pair(Name(b"FontDescriptor"), descriptor);
    }
    pdf.font_descriptor(descriptor)
        .name(Name(b"DejaVuSans"))
        .flags(pdf_writer::types::FontFlags::NON_SYMBOLIC)
        .bbox(m.bbox)
        .italic_angle(0.0)
        .ascent(m.ascent)
        .descent(m.descent)
        .cap_height(m.cap_height)
        .stem_v(80.0)
        .font_file2(file);
    let compressed = deflate(FONT);
    pdf.stream(file, &compressed).filter(Filter::FlateDecode).pair(Name(b"Length1"), FONT.len() as i32);

    for ((page, content), lines) in pages.iter().zip(&l.pages) {
        let mut c = pdf_writer::Content::new();
        c.set_fill_color_space(Name(b"CG"));
        c.set_fill_color([0.0]);
        c.set_stroke_color_space(Name(b"CG"));
        c.set_stroke_color([0.0]);
        for (x, y, size, text) in lines {
            c.begin_text();
            c.set_font(Name(b"F1"), *size);
            c.next_line(*x, *y);
            c.show(Str(&encode(text)));
            c.end_text();
        }
        let data = deflate(&c.finish());
        pdf.stream(*content, &data).filter(Filter::FlateDecode);
        let mut p = pdf.page(*page);
        p.parent(tree).media_box(Rect::new(0.0, 0.0, PAGE.0, PAGE.1)).contents(*content);
        let mut res = p.resources();
        res.fonts().pair(Name(b"F1"), font);
        // D65 white point: device-independent grey, so no output intent is needed.
        res.color_spaces().insert(Name(b"CG")).start::<pdf_writer::writers::ColorSpace>().cal_gray(
            [0.9505, 1.0, 1.089],
            None,
            None,
        );
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn italian_text_is_win_ansi() {
        assert_eq!(encode("città è più"), b"citt\xe0 \xe8 pi\xf9");
        assert_eq!(encode("—€"), b"\x97\x80");
        assert_eq!(encode("日"), b"?");
        assert!(text_width("Totale", 10.0) > 20.0);
        assert_eq!(initials("luca", "De Luca"), "L. D.");
    }
}
