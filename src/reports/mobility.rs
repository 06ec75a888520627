//! The receipt of a teacher's application (process 4) as a PDF/A document:
//! there is no printed form to deliver (R-ROUTE-3, seed L73), so this is
//! the teacher's proof of what was submitted, when, and to which office.

use chrono::{DateTime, Utc};

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
    let mut l = Layout::default();
    l.text(MARGIN, 14.0, "Ricevuta di presentazione della domanda");
    l.down(20.0);
    l.text(MARGIN, 11.0, format!("{} - anno scolastico {}", r.kind, r.school_year));
    l.down(22.0);
    let at = rome::local(r.submitted_at).format("%d/%m/%Y alle %H:%M:%S (ora italiana)").to_string();
    for (label, value) in [
        ("Numero di protocollo", r.protocol.as_str()),
        ("Presentata il", at.as_str()),
        ("Canale", r.channel.as_str()),
        ("Ufficio che tratta la domanda", r.office.as_str()),
        ("Docente", r.teacher.as_str()),
        ("Codice fiscale", r.tax_code.as_str()),
        ("Ordine di scuola", r.order.as_str()),
        ("Movimento", r.scope.as_str()),
    ] {
        l.text(MARGIN, 10.0, label);
        l.text(MARGIN + 170.0, 10.0, value);
        l.down(14.0);
    }
    section(&mut l, "Preferenze espresse", &r.preferences, "Nessuna preferenza.");
    section(&mut l, "Precedenze dichiarate", &r.precedences, "Nessuna precedenza.");
    section(
        &mut l,
        "Avvertenze (correggibili entro la scadenza ritirando e ripresentando la domanda)",
        &r.warnings,
        "Nessuna avvertenza.",
    );
    l.down(16.0);
    l.paragraph(
        MARGIN,
        8.0,
        10.0,
        PAGE.0 - 2.0 * MARGIN,
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
}
