//! The Ministry's school registry files (dati.istruzione.it): state schools
//! (19 columns, institution and site codes) and non-state schools (14 columns).
//! Municipalities are named by Belfiore code and joined through the ISTAT list.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Int4, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::text::{self, optional};
use super::{ImportOptions, ImportReport, Parsed, RowError, Upserted, repeated, tally};
use crate::db::schema::municipalities;
use crate::rules::codes::{SchoolCode, is_belfiore_code};
use crate::rules::order::SchoolOrder;

const STATE_COLUMNS: [&str; 19] = [
    "ANNOSCOLASTICO",
    "AREAGEOGRAFICA",
    "REGIONE",
    "PROVINCIA",
    "CODICEISTITUTORIFERIMENTO",
    "DENOMINAZIONEISTITUTORIFERIMENTO",
    "CODICESCUOLA",
    "DENOMINAZIONESCUOLA",
    "INDIRIZZOSCUOLA",
    "CAPSCUOLA",
    "CODICECOMUNESCUOLA",
    "DESCRIZIONECOMUNE",
    "DESCRIZIONECARATTERISTICASCUOLA",
    "DESCRIZIONETIPOLOGIAGRADOISTRUZIONESCUOLA",
    "INDICAZIONESEDEDIRETTIVO",
    "INDICAZIONESEDEOMNICOMPRENSIVO",
    "INDIRIZZOEMAILSCUOLA",
    "INDIRIZZOPECSCUOLA",
    "SITOWEBSCUOLA",
];
const NON_STATE_COLUMNS: [&str; 14] = [
    "ANNOSCOLASTICO",
    "AREAGEOGRAFICA",
    "REGIONE",
    "PROVINCIA",
    "CODICESCUOLA",
    "DENOMINAZIONESCUOLA",
    "INDIRIZZOSCUOLA",
    "CAPSCUOLA",
    "CODICECOMUNESCUOLA",
    "DESCRIZIONECOMUNE",
    "DESCRIZIONETIPOLOGIAGRADOISTRUZIONESCUOLA",
    "INDIRIZZOEMAILSCUOLA",
    "INDIRIZZOPECSCUOLA",
    "SITOWEBSCUOLA",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    State,
    NonState,
}

/// Where a municipality is, by Belfiore code.
#[derive(Debug, Clone)]
pub struct Place {
    pub istat_code: String,
    pub province_code: String,
}

pub type Gazetteer = HashMap<String, Place>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institution {
    pub code: String,
    pub name: String,
    pub kind: &'static str,
    pub province_code: String,
    pub municipality_istat: String,
    pub email: Option<String>,
    pub pec: Option<String>,
    pub website: Option<String>,
    pub school_year: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub code: String,
    pub institution_code: String,
    pub name: String,
    pub order: Option<SchoolOrder>,
    pub province_code: String,
    pub municipality_istat: String,
    pub address: Option<String>,
    pub postal_code: Option<String>,
    pub email: Option<String>,
    pub pec: Option<String>,
    pub website: Option<String>,
    pub school_year: i32,
}

#[derive(Debug, Clone)]
pub struct SchoolFile {
    pub layout: Layout,
    pub institutions: Vec<Institution>,
    pub sites: Vec<Site>,
}

/// The school year as the Ministry writes it: `202324` for 2023/24.
fn school_year(raw: &str) -> Result<i32, String> {
    let ok = raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit());
    let (first, second) =
        if ok { (raw[2..4].parse::<u32>().unwrap(), raw[4..6].parse::<u32>().unwrap()) } else { (0, 1) };
    if !ok || (first + 1) % 100 != second {
        return Err(format!("{raw:?} is not a school year like 202324"));
    }
    Ok(raw.parse().expect("six digits"))
}

fn layout_of(headers: &[String]) -> Result<Layout, RowError> {
    let has = |cols: &[&str]| cols.len() == headers.len() && cols.iter().zip(headers).all(|(a, b)| a == b);
    if has(&STATE_COLUMNS) {
        return Ok(Layout::State);
    }
    if has(&NON_STATE_COLUMNS) {
        return Ok(Layout::NonState);
    }
    let expected: &[&str] =
        if headers.iter().any(|h| h == "CODICEISTITUTORIFERIMENTO") { &STATE_COLUMNS } else { &NON_STATE_COLUMNS };
    let missing: Vec<&str> = expected.iter().copied().filter(|c| !headers.iter().any(|h| h == c)).collect();
    Err(RowError::new(
        1,
        None,
        format!(
            "unknown column layout: expected the Ministry's state-school registry (19 columns) or \
             non-state-school registry (14 columns); found {} columns{}",
            headers.len(),
            if missing.is_empty() { String::new() } else { format!(", missing {}", missing.join(", ")) }
        ),
    ))
}

/// Parses and validates a whole registry file against the known
/// municipalities; no I/O. `Err` when the file cannot be read at all.
pub fn parse(bytes: &[u8], gazetteer: &Gazetteer) -> Result<Parsed<SchoolFile>, RowError> {
    // An unknown layout is the better explanation of undecodable bytes.
    let text = text::utf8(bytes).map_err(|e| layout_of(&text::lossy_headers(bytes, b',')).err().unwrap_or(e))?;
    let mut rdr = text::reader(text, b',');
    let headers = text::normalized_headers(&mut rdr)?;
    let layout = layout_of(&headers)?;
    let idx: HashMap<&str, usize> = headers.iter().enumerate().map(|(i, h)| (h.as_str(), i)).collect();
    let mut errors = Vec::new();
    let rows = text::records(&mut rdr, &text::Lines::new(text), headers.len(), &mut errors);

    let mut sites = Vec::with_capacity(rows.len());
    let mut seen_sites: HashMap<String, u64> = HashMap::new();
    // Per institution: (line of first row, head-office row?, institution).
    let mut institutions: HashMap<String, (u64, bool, Institution)> = HashMap::new();
    for (line, r) in rows {
        let get = |name: &str| r.get(idx[name]).unwrap_or("").trim();
        let mut bad = |field: &str, reason: String| errors.push(RowError::new(line, Some(field.to_owned()), reason));
        let year = school_year(get("ANNOSCOLASTICO")).map_err(|e| bad("ANNOSCOLASTICO", e));
        let code = SchoolCode::parse(get("CODICESCUOLA")).map_err(|e| bad("CODICESCUOLA", format!("{e}")));
        let institution = match layout {
            Layout::State => SchoolCode::parse(get("CODICEISTITUTORIFERIMENTO"))
                .map_err(|e| bad("CODICEISTITUTORIFERIMENTO", format!("{e}"))),
            Layout::NonState => code.clone().map_err(|_| ()),
        };
        let belfiore = get("CODICECOMUNESCUOLA").to_ascii_uppercase();
        let place = if !is_belfiore_code(&belfiore) {
            bad("CODICECOMUNESCUOLA", format!("{belfiore:?} is not a Belfiore code (a letter and 3 digits)"));
            None
        } else if let Some(p) = gazetteer.get(&belfiore) {
            Some(p.clone())
        } else {
            bad(
                "CODICECOMUNESCUOLA",
                if gazetteer.is_empty() {
                    format!("no municipality has Belfiore code {belfiore} (import ISTAT's municipalities first)")
                } else {
                    format!("no municipality has Belfiore code {belfiore} in ISTAT's list (merged or renamed?)")
                },
            );
            None
        };
        let name = get("DENOMINAZIONESCUOLA");
        if name.is_empty() {
            bad("DENOMINAZIONESCUOLA", "is empty".into());
        }
        let postal_code = optional(get("CAPSCUOLA"));
        if let Some(cap) = &postal_code
            && (cap.len() != 5 || !cap.bytes().all(|b| b.is_ascii_digit()))
        {
            bad("CAPSCUOLA", format!("{cap:?} is not a 5-digit postal code"));
        }
        let (Ok(year), Ok(code), Ok(institution), Some(place), false) =
            (year, code, institution, place, name.is_empty())
        else {
            continue;
        };
        if let Some(e) = repeated(&mut seen_sites, code.as_str(), line) {
            errors.push(e);
            continue;
        }
        let email = optional(get("INDIRIZZOEMAILSCUOLA"));
        let pec = optional(get("INDIRIZZOPECSCUOLA"));
        let website = optional(get("SITOWEBSCUOLA"));
        let (inst_name, kind, head_office) = match layout {
            Layout::State => (
                get("DENOMINAZIONEISTITUTORIFERIMENTO").to_owned(),
                "state",
                get("INDICAZIONESEDEDIRETTIVO").eq_ignore_ascii_case("SI") || code == institution,
            ),
            Layout::NonState => (name.to_owned(), "non_state", true),
        };
        let candidate = Institution {
            code: institution.to_string(),
            name: if inst_name.is_empty() { name.to_owned() } else { inst_name },
            kind,
            province_code: place.province_code.clone(),
            municipality_istat: place.istat_code.clone(),
            email: email.clone(),
            pec: pec.clone(),
            website: website.clone(),
            school_year: year,
        };
        // The head office decides where an institution is; otherwise its first site.
        match institutions.get_mut(institution.as_str()) {
            Some((_, had_head, current)) if head_office && !*had_head => {
                *current = candidate;
                *had_head = true;
            }
            Some(_) => {}
            None => {
                institutions.insert(institution.to_string(), (line, head_office, candidate));
            }
        }
        sites.push(Site {
            order: SchoolOrder::from_registry(get("DESCRIZIONETIPOLOGIAGRADOISTRUZIONESCUOLA"), code.as_str()),
            code: code.into_string(),
            institution_code: institution.into_string(),
            name: name.to_owned(),
            province_code: place.province_code,
            municipality_istat: place.istat_code,
            address: optional(get("INDIRIZZOSCUOLA")),
            postal_code,
            email,
            pec,
            website,
            school_year: year,
        });
    }
    if sites.is_empty() && errors.is_empty() {
        return Err(RowError::new(1, None, "the file has no data rows"));
    }
    errors.sort_by_key(|e| e.line);
    let mut institutions: Vec<(u64, Institution)> = institutions.into_values().map(|(l, _, i)| (l, i)).collect();
    institutions.sort_by_key(|(l, _)| *l);
    let data = SchoolFile { layout, institutions: institutions.into_iter().map(|(_, i)| i).collect(), sites };
    Ok(Parsed { data, errors })
}

/// Every municipality by Belfiore code.
pub async fn gazetteer(conn: &mut AsyncPgConnection) -> QueryResult<Gazetteer> {
    let rows: Vec<(String, String, String)> = municipalities::table
        .select((municipalities::belfiore_code, municipalities::istat_code, municipalities::province_code))
        .load(conn)
        .await?;
    Ok(rows.into_iter().map(|(b, istat_code, province_code)| (b, Place { istat_code, province_code })).collect())
}

/// Upserts institutions and sites. A row from an older school year than the
/// stored one is left alone, unless the stored one was derived (demo data).
pub async fn write_rows(
    conn: &mut AsyncPgConnection,
    institutions: &[Institution],
    sites: &[Site],
    derived: bool,
    report: &mut ImportReport,
) -> QueryResult<()> {
    let inst_upserted: Vec<Upserted> = diesel::sql_query(
        "INSERT INTO institutions (code, name, kind, province_code, municipality_istat, email, pec, website, school_year, derived)
         SELECT *, $10 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int4[])
         ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind,
             province_code = EXCLUDED.province_code, municipality_istat = EXCLUDED.municipality_istat,
             email = EXCLUDED.email, pec = EXCLUDED.pec, website = EXCLUDED.website,
             school_year = EXCLUDED.school_year, derived = EXCLUDED.derived
         WHERE (EXCLUDED.school_year >= institutions.school_year OR institutions.derived)
           AND (institutions.name, institutions.kind, institutions.province_code, institutions.municipality_istat,
                institutions.email, institutions.pec, institutions.website, institutions.school_year, institutions.derived)
               IS DISTINCT FROM
               (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.province_code, EXCLUDED.municipality_istat,
                EXCLUDED.email, EXCLUDED.pec, EXCLUDED.website, EXCLUDED.school_year, EXCLUDED.derived)
         RETURNING (xmax = 0) AS inserted",
    )
    .bind::<Array<Text>, _>(institutions.iter().map(|i| i.code.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(institutions.iter().map(|i| i.name.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(institutions.iter().map(|i| i.kind.to_owned()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(institutions.iter().map(|i| i.province_code.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(institutions.iter().map(|i| i.municipality_istat.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(institutions.iter().map(|i| i.email.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(institutions.iter().map(|i| i.pec.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(institutions.iter().map(|i| i.website.clone()).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(institutions.iter().map(|i| i.school_year).collect::<Vec<_>>())
    .bind::<Bool, _>(derived)
    .load(conn)
    .await?;
    let site_upserted: Vec<Upserted> = diesel::sql_query(
        "INSERT INTO sites (code, institution_code, name, school_order, province_code, municipality_istat,
                            address, postal_code, email, pec, website, school_year, derived)
         SELECT *, $13 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                              $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::int4[])
         ON CONFLICT (code) DO UPDATE SET institution_code = EXCLUDED.institution_code, name = EXCLUDED.name,
             school_order = EXCLUDED.school_order, province_code = EXCLUDED.province_code,
             municipality_istat = EXCLUDED.municipality_istat, address = EXCLUDED.address,
             postal_code = EXCLUDED.postal_code, email = EXCLUDED.email, pec = EXCLUDED.pec,
             website = EXCLUDED.website, school_year = EXCLUDED.school_year, derived = EXCLUDED.derived
         WHERE (EXCLUDED.school_year >= sites.school_year OR sites.derived)
           AND (sites.institution_code, sites.name, sites.school_order, sites.province_code, sites.municipality_istat,
                sites.address, sites.postal_code, sites.email, sites.pec, sites.website, sites.school_year, sites.derived)
               IS DISTINCT FROM
               (EXCLUDED.institution_code, EXCLUDED.name, EXCLUDED.school_order, EXCLUDED.province_code,
                EXCLUDED.municipality_istat, EXCLUDED.address, EXCLUDED.postal_code, EXCLUDED.email, EXCLUDED.pec,
                EXCLUDED.website, EXCLUDED.school_year, EXCLUDED.derived)
         RETURNING (xmax = 0) AS inserted",
    )
    .bind::<Array<Text>, _>(sites.iter().map(|s| s.code.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(sites.iter().map(|s| s.institution_code.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(sites.iter().map(|s| s.name.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(sites.iter().map(|s| s.order.map(|o| o.as_str().to_owned())).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(sites.iter().map(|s| s.province_code.clone()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(sites.iter().map(|s| s.municipality_istat.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(sites.iter().map(|s| s.address.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(sites.iter().map(|s| s.postal_code.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(sites.iter().map(|s| s.email.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(sites.iter().map(|s| s.pec.clone()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Text>>, _>(sites.iter().map(|s| s.website.clone()).collect::<Vec<_>>())
    .bind::<Array<Int4>, _>(sites.iter().map(|s| s.school_year).collect::<Vec<_>>())
    .bind::<Bool, _>(derived)
    .load(conn)
    .await?;
    // The report counts sites, the file's rows; institutions are told apart.
    report.institutions_changed += inst_upserted.len() as u64;
    report.rows = sites.len();
    tally(report, &site_upserted, sites.len());
    Ok(())
}

/// Parses, validates and writes one registry file in one transaction.
pub async fn import(
    conn: &mut AsyncPgConnection,
    file: &str,
    bytes: &[u8],
    options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    let places = gazetteer(conn).await?;
    let parsed = parse(bytes, &places);
    let kind = match parsed.as_ref().map(|p| p.data.layout) {
        Ok(Layout::State) => "state schools",
        _ => "non-state schools",
    };
    super::run(conn, file, kind, parsed, options, |c, d, r| {
        Box::pin(write_rows(c, &d.institutions, &d.sites, false, r))
    })
    .await
}
