//! PDF/A-2b documents from lines of text: the embedded font (DejaVu Sans,
//! with its widths), device-independent grey (CalGray) and XMP metadata
//! declaring the conformance. The layouts live with their reports.

use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Timelike, Utc};
use pdf_writer::{Filter, Name, Pdf, Rect, Ref, Str, TextStr};
use sha2::Digest;

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub const PAGE: (f32, f32) = (595.28, 841.89);
pub const MARGIN: f32 = 50.0;

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
pub fn encode(text: &str) -> Vec<u8> {
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

pub fn text_width(text: &str, size: f32) -> f32 {
    let m = metrics();
    encode(text).iter().map(|b| m.widths[usize::from(b - 32)]).sum::<f32>() * size / 1000.0
}

/// Lines of text placed on pages, top to bottom.
pub struct Layout {
    pages: Vec<Vec<(f32, f32, f32, String)>>,
    y: f32,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout { pages: vec![Vec::new()], y: PAGE.1 - MARGIN }
    }
}

impl Layout {
    /// Moves down by `dy`, starting a new page when the bottom is reached.
    pub fn down(&mut self, dy: f32) {
        self.y -= dy;
        if self.y < MARGIN {
            self.pages.push(Vec::new());
            self.y = PAGE.1 - MARGIN - dy;
        }
    }
    pub fn text(&mut self, x: f32, size: f32, s: impl Into<String>) {
        let y = self.y;
        self.pages.last_mut().expect("a page").push((x, y, size, s.into()));
    }
    /// Text wrapped at word boundaries to fit `width`, a line each, moving
    /// down by `leading` after every line.
    pub fn paragraph(&mut self, x: f32, size: f32, leading: f32, width: f32, s: &str) {
        let mut line = String::new();
        for word in s.split_whitespace() {
            let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
            if !line.is_empty() && text_width(&candidate, size) > width {
                self.text(x, size, std::mem::replace(&mut line, word.to_owned()));
                self.down(leading);
            } else {
                line = candidate;
            }
        }
        self.text(x, size, line);
        self.down(leading);
    }
    /// Whether every line ends left of `right` (a check for layouts).
    pub fn pages_fit(&self, right: f32) -> bool {
        self.pages.iter().flatten().all(|(x, _, size, s)| x + text_width(s, *size) <= right)
    }
    /// Right-aligned at `right`.
    pub fn number(&mut self, right: f32, size: f32, s: impl Into<String>) {
        let s = s.into();
        self.text(right - text_width(&s, size), size, s);
    }
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

/// A laid-out document as PDF/A-2b bytes. `identity` seeds the file id, so
/// the same document made twice has the same id.
pub fn document(title: &str, identity: &str, at: DateTime<Utc>, l: &Layout) -> Vec<u8> {
    let m = metrics();
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
    let digest = sha2::Sha256::digest(format!("{identity}|{}", at.to_rfc3339()));
    let id = digest[..16].to_vec();
    pdf.set_file_id((id.clone(), id));
    pdf.catalog(catalog).pages(tree).metadata(meta);
    pdf.pages(tree).kids(pages.iter().map(|p| p.0)).count(pages.len() as i32);

    let xmp = xmp(title, producer, at);
    pdf.metadata(meta, xmp.as_bytes());
    pdf.document_info(info)
        .title(TextStr(title))
        .producer(TextStr(producer))
        .creation_date(pdf_date(at))
        .modified_date(pdf_date(at));

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
    }
}
