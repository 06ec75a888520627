//! Process 4's documents for people: the receipt of a teacher's
//! application as a PDF/A document (there is no printed form to deliver,
//! R-ROUTE-3, seed L73, so it is the teacher's proof of what was submitted,
//! when, and to which office); the certificate of an allocation outcome;
//! and the outcome sheet per school and post type.

use chrono::{DateTime, Utc};

use super::Cell;
use super::pdf::{Layout, MARGIN, PAGE, document};
use crate::rules::rome;

/// What the receipt states, already in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub protocol: String,
    /// `Assegnazione provvisoria` or `Utilizzazione`.
    pub kind: String,
    /// `2016/17`.
    pub school_year: String,
    pub order: String,
    /// `provinciale` or `interprovinciale`.
    pub scope: String,
    /// `online`, or the channel of a paper form.
    pub channel: String,
    pub submitted_at: DateTime<Utc>,
    /// The processing office: `Ufficio scolastico di BG`.
    pub office: String,
    pub teacher: String,
    pub tax_code: String,
    /// One line per preference, in order.
    pub preferences: Vec<String>,
    pub precedences: Vec<String>,
    pub warnings: Vec<String>,
}

/// A document's title, subtitle and a table of labelled values.
fn heading(title: &str, subtitle: &str, pairs: &[(&str, &str)]) -> Layout {
    let mut l = Layout::default();
    l.text(MARGIN, 14.0, title);
    l.down(20.0);
    l.text(MARGIN, 11.0, subtitle);
    l.down(22.0);
    for (label, value) in pairs {
        l.text(MARGIN, 10.0, *label);
        l.text(MARGIN + 170.0, 10.0, *value);
        l.down(14.0);
    }
    l
}

/// Small print below the sections.
fn footnote(l: &mut Layout, text: &str) {
    l.down(16.0);
    l.paragraph(MARGIN, 8.0, 10.0, PAGE.0 - 2.0 * MARGIN, text);
}

fn section(l: &mut Layout, title: &str, lines: &[String], none: &str) {
    let width = PAGE.0 - 2.0 * MARGIN - 12.0;
    l.down(10.0);
    l.text(MARGIN, 11.0, title);
    l.down(15.0);
    if lines.is_empty() {
        l.paragraph(MARGIN + 12.0, 9.0, 12.0, width, none);
    }
    for line in lines {
        l.paragraph(MARGIN + 12.0, 9.0, 12.0, width, line);
    }
}

fn layout(r: &Receipt) -> Layout {
    let at = rome::local(r.submitted_at).format("%d/%m/%Y alle %H:%M:%S (ora italiana)").to_string();
    let mut l = heading(
        "Ricevuta di presentazione della domanda",
        &format!("{} - anno scolastico {}", r.kind, r.school_year),
        &[
            ("Numero di protocollo", r.protocol.as_str()),
            ("Presentata il", at.as_str()),
            ("Canale", r.channel.as_str()),
            ("Ufficio che tratta la domanda", r.office.as_str()),
            ("Docente", r.teacher.as_str()),
            ("Codice fiscale", r.tax_code.as_str()),
            ("Ordine di scuola", r.order.as_str()),
            ("Movimento", r.scope.as_str()),
        ],
    );
    section(&mut l, "Preferenze espresse", &r.preferences, "Nessuna preferenza.");
    section(&mut l, "Precedenze dichiarate", &r.precedences, "Nessuna precedenza.");
    section(
        &mut l,
        "Avvertenze (correggibili entro la scadenza ritirando e ripresentando la domanda)",
        &r.warnings,
        "Nessuna avvertenza.",
    );
    footnote(
        &mut l,
        "La domanda registrata sulla piattaforma è la domanda valida: non va consegnata in stampa né alla \
         scuola di servizio né all'ufficio. Conservi questa ricevuta.",
    );
    l
}

/// The receipt's PDF bytes: the same receipt gives the same file.
pub fn receipt_pdf(r: &Receipt) -> Vec<u8> {
    let title = format!("Ricevuta domanda {}", r.protocol);
    document(&title, &format!("mobility-receipt|{}", r.protocol), r.submitted_at, &layout(r))
}

/// The certificate of an outcome (issue 21): the post, and for every
/// preference above it who took the last post there, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub protocol: String,
    pub kind: String,
    pub school_year: String,
    pub teacher: String,
    /// `pubblicato`, or `proposta non ancora approvata` for the office.
    pub standing: String,
    pub outcome: String,
    pub entries: Vec<String>,
    pub renounced: Option<DateTime<Utc>>,
    pub generated_at: DateTime<Utc>,
}

fn certificate_layout(c: &Certificate) -> Layout {
    let mut l = heading(
        "Certificato dell'esito e delle precedenze",
        &format!("{} - anno scolastico {}", c.kind, c.school_year),
        &[
            ("Numero di protocollo", c.protocol.as_str()),
            ("Docente", c.teacher.as_str()),
            ("Stato dell'esito", c.standing.as_str()),
        ],
    );
    let mut outcome = vec![c.outcome.clone()];
    if let Some(at) = c.renounced {
        outcome.push(format!("Rinuncia registrata il {}", rome::local(at).format("%d/%m/%Y alle %H:%M")));
    }
    section(&mut l, "Esito", &outcome, "-");
    section(
        &mut l,
        "Per ogni preferenza espressa prima di quella ottenuta: chi ha avuto l'ultimo posto",
        &c.entries,
        "Nessuna preferenza prima di quella ottenuta.",
    );
    footnote(
        &mut l,
        "Chi ha avuto un posto è indicato con il numero di protocollo, non con il nome. Un posto che \
         nessuno con titolo inferiore al suo ha ottenuto prima della sua sede è la prova che la regola \
         è stata applicata; i posti assegnati d'ufficio sono indicati con la motivazione.",
    );
    l
}

/// The certificate's PDF bytes.
pub fn certificate_pdf(c: &Certificate) -> Vec<u8> {
    let title = format!("Certificato esito domanda {}", c.protocol);
    document(&title, &format!("mobility-certificate|{}", c.protocol), c.generated_at, &certificate_layout(c))
}

/// The outcome sheet: one row per form, by school and post type.
pub const SHEET: &str = "Esiti";
pub const HEADERS: [&str; 12] = [
    "Sede",
    "Istituto",
    "Tipo posto",
    "Classe di concorso",
    "Cattedra",
    "Esito",
    "Protocollo",
    "Cognome",
    "Nome",
    "Codice fiscale",
    "Preferenza",
    // POST-8: a post of part-posts, with the part-posts it is made of.
    "Spezzoni",
];

pub fn cells(r: &crate::db::mobility::SheetRow) -> Vec<Cell> {
    let text = |s: &Option<String>| s.clone().map_or(Cell::Empty, Cell::Text);
    vec![
        text(&r.school_code),
        text(&r.institution_code),
        text(&r.post_type),
        text(&r.class_code),
        text(&r.chair_kind),
        Cell::Text(r.state.to_ascii_uppercase()),
        Cell::Text(r.protocol_number.clone()),
        Cell::Text(r.last_name.clone()),
        Cell::Text(r.first_name.clone()),
        Cell::Text(r.tax_code.clone()),
        r.position.map_or(Cell::Empty, Cell::Number),
        r.hours.map_or(Cell::Empty, |h| Cell::Text(hours_words(h, r.parts.as_deref()))),
    ]
}

/// POST-8: a stored post of part-posts in words.
pub fn hours_words(hours: i32, parts: Option<&[i32]>) -> String {
    let parts: Vec<u32> = parts.unwrap_or_default().iter().map(|&h| h as u32).collect();
    crate::rules::mobility::hours::describe(hours as u32, &parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_wrap_inside_the_page_and_the_file_is_reproducible() {
        let r = Receipt {
            protocol: "BG-2016-000001".into(),
            kind: "Assegnazione provvisoria".into(),
            school_year: "2016/17".into(),
            order: "Infanzia".into(),
            scope: "provinciale".into(),
            channel: "online".into(),
            submitted_at: "2016-08-01T08:00:00Z".parse().unwrap(),
            office: "Ufficio scolastico di BG".into(),
            teacher: "Rossi Anna".into(),
            tax_code: "RSSNNA80E44A794X".into(),
            preferences: vec!["1. Comune 016024: valida".into()],
            precedences: vec![],
            warnings: vec![format!("PREF-3a: {}", "parola ".repeat(60))],
        };
        let l = layout(&r);
        assert!(l.pages_fit(PAGE.0 - MARGIN), "no line runs past the right margin");
        assert_eq!(receipt_pdf(&r), receipt_pdf(&r));
    }

    #[test]
    fn a_certificate_with_long_entries_fits_the_page() {
        let c = Certificate {
            protocol: "BG-2016-000002".into(),
            kind: "Assegnazione provvisoria".into(),
            school_year: "2016/17".into(),
            teacher: "Bianchi Marco".into(),
            standing: "pubblicato".into(),
            outcome: "NON ASSEGNATA".into(),
            entries: (1..=40).map(|i| format!("Preferenza {i} (BGMM00001): {}", "ultimo posto ".repeat(12))).collect(),
            renounced: None,
            generated_at: "2016-08-30T08:00:00Z".parse().unwrap(),
        };
        let l = certificate_layout(&c);
        assert!(l.pages_fit(PAGE.0 - MARGIN));
        assert_eq!(certificate_pdf(&c), certificate_pdf(&c));
    }
}
