//! "Sintesi delle ore richieste per l'organico di sostegno": one school's
//! requested hours for a year as a PDF that the head teacher signs (PAdES).
//!
//! Built for PDF/A-2b: the font is embedded (DejaVu Sans, with its widths),
//! colours are device-independent (CalGray), and XMP metadata declares the
//! conformance and repeats the document information. Pupils appear by
//! internal code and initials only, never by name or tax code.

use chrono::{DateTime, Utc};

use super::pdf::{Layout, MARGIN, document};
use crate::rules::school_year::SchoolYear;

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

/// Columns of the tables: x of each cell, numbers right-aligned at the end.
const TOTALS_X: [f32; 5] = [MARGIN, 240.0, 360.0, 450.0, 545.0];
const PUPILS_X: [f32; 7] = [MARGIN, 120.0, 175.0, 320.0, 370.0, 430.0, 545.0];

fn layout(s: &Summary) -> Layout {
    let mut l = Layout::default();
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

/// The summary as PDF bytes.
pub fn pdf(s: &Summary) -> Vec<u8> {
    let title = format!("Sintesi delle ore richieste per l'organico di sostegno {} {}", s.school_code, s.year);
    document(&title, &format!("{}|{}", s.school_code, s.year), s.generated_at, &layout(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_take_the_first_letter_of_each_name() {
        assert_eq!(initials("luca", "De Luca"), "L. D.");
    }
}
