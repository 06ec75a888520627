//! The school's export of a round's applications and outcomes (process 3):
//! one row per application with the pupil, the residence, the preferences,
//! the tier, points and the current outcome. For the school only: it holds
//! a minor's identity and, through the tier, disability precedence. And the
//! public list for the albo (spec §7.2) as a PDF: pseudonymous codes only.

use chrono::{DateTime, NaiveDate, Utc};

use super::Cell;
use super::pdf::{Layout, MARGIN, document};
use crate::rules::admissions::public::{PublicRow, PublicVersion};

/// The sheet's name.
pub const SHEET: &str = "Domande";

pub const HEADERS: [&str; 22] = [
    "Numero domanda",
    "Codice pubblico",
    "Cognome",
    "Nome",
    "Codice fiscale",
    "Data di nascita",
    "Anticipatario",
    "Comune di residenza",
    "Indirizzo",
    "Bacino",
    "Data domanda",
    "Fuori termine",
    "Plessi richiesti",
    "Tempi scuola richiesti",
    "Fascia",
    "Gruppo",
    "Punti",
    "Esito",
    "Plesso assegnato",
    "Tempo scuola",
    "Posizione in lista d'attesa",
    "Stato",
];

/// One application as exported.
#[derive(Debug, Clone)]
pub struct Row {
    pub external_ref: String,
    pub public_code: String,
    pub last_name: String,
    pub first_name: String,
    pub tax_code: String,
    pub birth_date: chrono::NaiveDate,
    pub early: bool,
    pub municipality: String,
    pub address: String,
    pub catchment: Option<String>,
    pub submitted_on: chrono::NaiveDate,
    pub late: bool,
    pub sites: Vec<String>,
    pub models: Vec<String>,
    pub tier: &'static str,
    pub group: &'static str,
    pub points: i64,
    /// AMMESSO, AMMESSO_ALTRO_PLESSO, LISTA_ATTESA, RIMOSSO.
    pub outcome: &'static str,
    pub site: Option<String>,
    pub time_model: Option<String>,
    pub waiting_position: Option<u32>,
    pub status: String,
}

fn yes(b: bool) -> Cell {
    Cell::Text(if b { "sì" } else { "no" }.into())
}

pub fn cells(r: &Row) -> Vec<Cell> {
    use Cell::*;
    vec![
        Text(r.external_ref.clone()),
        Text(r.public_code.clone()),
        Text(r.last_name.clone()),
        Text(r.first_name.clone()),
        Text(r.tax_code.clone()),
        Date(r.birth_date),
        yes(r.early),
        Text(r.municipality.clone()),
        Text(r.address.clone()),
        r.catchment.clone().map_or(Empty, Text),
        Date(r.submitted_on),
        yes(r.late),
        Text(r.sites.join(", ")),
        Text(r.models.join(", ")),
        Text(r.tier.into()),
        Text(r.group.into()),
        Hundredths(r.points),
        Text(r.outcome.into()),
        r.site.clone().map_or(Empty, Text),
        r.time_model.clone().map_or(Empty, Text),
        r.waiting_position.map_or(Empty, |p| Number(p as i32)),
        Text(r.status.clone()),
    ]
}

/// The public list as the albo prints it: the header of spec §7.2 and the
/// rows of the public version, nothing else.
#[derive(Debug, Clone)]
pub struct Albo {
    pub institution_code: String,
    pub institution_name: String,
    /// "scuola primaria".
    pub order: String,
    pub school_year: String,
    pub published_on: NaiveDate,
    /// The complaint deadline (provisional) or the end of posting (final).
    pub posted_until: Option<NaiveDate>,
    /// Site code and name, in the round's order.
    pub site_names: Vec<(String, String)>,
    pub version: PublicVersion,
    pub generated_at: DateTime<Utc>,
}

/// The outcome as the albo words it.
fn outcome_label(code: &str) -> &str {
    match code {
        "AMMESSO" => "Ammesso",
        "AMMESSO_ALTRO_PLESSO" => "Ammesso altro plesso",
        "LISTA_ATTESA" => "Lista d'attesa",
        "FUORI_TERMINE" => "Fuori termine",
        other => other,
    }
}

/// Two decimals with a decimal comma, as Italian lists print points.
fn points_label(r: &PublicRow) -> String {
    r.points.map_or_else(|| "-".into(), |p| p.to_string().replace('.', ","))
}

/// Columns of the rows: position and points right-aligned at their x.
const ROW_X: [f32; 9] = [72.0, 82.0, 150.0, 222.0, 232.0, 340.0, 410.0, 500.0, 510.0];

fn albo_layout(a: &Albo) -> Layout {
    let date = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
    let mut l = Layout::default();
    l.text(MARGIN, 9.0, format!("{} - {}", a.institution_code, a.institution_name));
    l.down(26.0);
    let stage = if a.version.final_stage { "definitiva" } else { "provvisoria" };
    l.text(MARGIN, 15.0, format!("Graduatoria {stage} delle domande di iscrizione"));
    l.down(20.0);
    l.text(MARGIN, 12.0, format!("{} - anno scolastico {}", a.order, a.school_year));
    l.down(22.0);
    l.text(MARGIN, 10.0, format!("Pubblicata all'albo il {}", date(a.published_on)));
    l.down(14.0);
    if let Some(until) = a.posted_until {
        l.text(
            MARGIN,
            10.0,
            match a.version.final_stage {
                true => format!("Affissa fino al {}", date(until)),
                false => format!("Reclami entro il {}", date(until)),
            },
        );
        l.down(14.0);
    }
    l.text(
        MARGIN,
        8.0,
        "Gruppo: A bacino del plesso, B altri residenti, C non residenti. Parità: ordine per sorteggio.",
    );
    l.down(12.0);
    l.text(MARGIN, 8.0, "Ogni famiglia riconosce la propria domanda dal codice pubblico ricevuto dalla scuola.");
    l.down(10.0);
    for site in &a.version.sites {
        let name = a.site_names.iter().find(|(c, _)| c == &site.site).map_or("", |(_, n)| n.as_str());
        l.down(20.0);
        l.text(MARGIN, 11.0, format!("Plesso {} - {}", site.site, name));
        l.down(14.0);
        l.text(
            MARGIN,
            9.0,
            format!("Posti: {} (posti al netto delle precedenze previste dalla legge)", site.places_net),
        );
        l.down(16.0);
        let heads = ["Pos.", "Codice", "Gruppo", "Punti", "Esito", "Plesso", "Tempo scuola", "Attesa", "Parità"];
        for (i, (x, h)) in ROW_X.iter().zip(heads).enumerate() {
            if matches!(i, 0 | 3 | 7) { l.number(*x, 8.0, h) } else { l.text(*x, 8.0, h) }
        }
        l.down(12.0);
        if site.rows.is_empty() {
            l.text(MARGIN, 8.0, "Nessuna domanda da pubblicare.");
            l.down(12.0);
        }
        for r in &site.rows {
            l.number(ROW_X[0], 8.0, r.position.to_string());
            l.text(ROW_X[1], 8.0, r.public_code.clone());
            l.text(ROW_X[2], 8.0, r.group.clone());
            l.number(ROW_X[3], 8.0, points_label(r));
            l.text(ROW_X[4], 8.0, outcome_label(&r.outcome));
            l.text(ROW_X[5], 8.0, r.site.clone().unwrap_or_default());
            l.text(ROW_X[6], 8.0, r.time_model.clone().unwrap_or_default());
            l.number(ROW_X[7], 8.0, r.waiting_position.map_or_else(String::new, |p| p.to_string()));
            l.text(ROW_X[8], 8.0, if r.tie { "sì" } else { "" });
            l.down(11.0);
        }
    }
    l.down(30.0);
    l.text(330.0, 10.0, "Il Dirigente Scolastico");
    l
}

/// The albo's PDF of a public version.
pub fn albo_pdf(a: &Albo) -> Vec<u8> {
    let stage = if a.version.final_stage { "definitiva" } else { "provvisoria" };
    let title = format!("Graduatoria {stage} {} {} {}", a.institution_code, a.order, a.school_year);
    document(
        &title,
        &format!("albo|{}|{}|{}|{stage}", a.institution_code, a.order, a.school_year),
        a.generated_at,
        &albo_layout(a),
    )
}
