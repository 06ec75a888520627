//! The school's export of a round's applications and outcomes (process 3):
//! one row per application with the pupil, the residence, the preferences,
//! the tier, points and the current outcome. For the school only: it holds
//! a minor's identity and, through the tier, disability precedence.

use super::Cell;

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
