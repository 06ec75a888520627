//! Demo data: the real provinces of Bergamo and Milano, loaded once into an
//! empty database through the same importers as the published files, with
//! demo accounts, registry data, refugee minors' requests, an admission
//! round and a teachers' mobility campaign.
//!
//! The files under `data/` are the Bergamo and Milano rows of the shared
//! open-data files, cut by `data/extract.py` and left in their publishers'
//! formats. The state-school registry in the shared data covers only Aosta,
//! Trento and Bolzano, so Lombardy's state institutions are *derived* from the
//! pupils-per-site file (see [`derive`]) and marked `derived`.

pub mod accounts;
pub mod admissions;
pub mod derive;
pub mod mobility;
pub mod refugees;
pub mod registry;

use std::collections::HashMap;

use anyhow::Context as _;
use diesel::prelude::*;
use diesel::sql_types::{Array, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

pub use accounts::DemoAccount;

use crate::auth::passwords::Passwords;
use crate::db::schema::{app_meta, municipalities};
use crate::import::{ImportReport, Parsed, RowError, istat, pupils, schools};

const ISTAT: &[u8] = include_bytes!("data/istat-comuni-bg-mi.csv");
const NON_STATE: &[u8] = include_bytes!("data/mim-scuole-paritarie-bg-mi.csv");
const PUPILS: &[u8] = include_bytes!("data/mim-alunni-per-sede-bg-mi.csv");

/// Bumped when the demo data set changes. A database with another
/// version's demo is refused with what to do, never loaded over.
const DEMO_VERSION: &str = "9";

/// Loads the demo territory and accounts unless this database already has
/// them. Returns the new accounts with their passwords when it loaded, `None`
/// when there was nothing to do. All or nothing, in one transaction.
pub async fn load(conn: &mut AsyncPgConnection, passwords: &Passwords) -> anyhow::Result<Option<Vec<DemoAccount>>> {
    let loaded: Option<String> =
        app_meta::table.filter(app_meta::key.eq("demo")).select(app_meta::value).first(conn).await.optional()?;
    match loaded.as_deref() {
        Some(DEMO_VERSION) => return Ok(None),
        // Loading over an older demo would meet its rows (windows, rounds,
        // forms) and fail half-way with a constraint's name: say what to do.
        Some(found) => anyhow::bail!(
            "this database holds the demo data of an earlier Ambito (demo version {found}; this one loads version \
             {DEMO_VERSION}), and a demo is never loaded over another. Start from a fresh database: remove the \
             data directory (or pass another --data-dir), or give --database-url a new, empty database"
        ),
        None => {}
    }
    conn.transaction::<_, anyhow::Error, _>(async move |conn| {
        load_territory(conn, &EMBEDDED, true).await?;
        diesel::insert_into(app_meta::table)
            .values((app_meta::key.eq("demo"), app_meta::value.eq(DEMO_VERSION)))
            .on_conflict(app_meta::key)
            .do_update()
            .set(app_meta::value.eq(DEMO_VERSION))
            .execute(conn)
            .await?;
        let accounts = accounts::create(conn, passwords).await?;
        let mut schools: Vec<String> = Vec::new();
        for a in accounts.iter().filter(|a| a.role == "school") {
            if let Some(code) = a.organization.as_ref().filter(|c| !schools.contains(c)) {
                schools.push(code.clone());
            }
        }
        let today = crate::db::registry::today(conn).await?;
        registry::load(conn, &schools, today).await?;
        refugees::load(conn, today).await?;
        admissions::load(conn, chrono::Utc::now()).await?;
        mobility::load(conn).await?;
        Ok(accounts)
    })
    .await
    .context("loading the demo data")
    .map(Some)
}

/// The published files a territory is made of: municipalities (ISTAT),
/// non-state schools and pupils per site (Ministry), in their own formats.
pub struct OpenData<'a> {
    pub istat: &'a [u8],
    pub non_state: &'a [u8],
    pub pupils: &'a [u8],
}

/// The Bergamo and Milano rows of the published files, built into the binary.
pub const EMBEDDED: OpenData<'static> = OpenData { istat: ISTAT, non_state: NON_STATE, pupils: PUPILS };

/// Loads a territory from the open data: municipalities, schools (state
/// institutions derived from the pupils file), pupil counts, ambits and
/// hubs. `strict` refuses a file with any bad row (the demo's fixed files);
/// otherwise bad rows are left out (the national files, as published).
pub async fn load_territory(
    conn: &mut AsyncPgConnection,
    files: &OpenData<'_>,
    strict_rows: bool,
) -> anyhow::Result<()> {
    let territory = rows(strict_rows, "municipalities", istat::parse(files.istat))?;
    let counts = rows(strict_rows, "pupil counts", pupils::parse(files.pupils))?;
    let mut report = ImportReport::default();
    istat::write(conn, &territory, &mut report).await?;
    let places = schools::gazetteer(conn).await?;
    let non_state = rows(strict_rows, "schools", schools::parse(files.non_state, &places))?;
    schools::write_rows(conn, &non_state.institutions, &non_state.sites, false, &mut report).await?;

    let municipalities: Vec<derive::Municipality> = municipalities::table
        .order(municipalities::istat_code)
        .select((municipalities::istat_code, municipalities::province_code, municipalities::name))
        .load::<(String, String, String)>(conn)
        .await?
        .into_iter()
        .map(|(istat_code, province_code, name)| derive::Municipality { istat_code, province_code, name })
        .collect();
    let mut non_state_per_municipality: HashMap<String, u32> = HashMap::new();
    for s in &non_state.sites {
        *non_state_per_municipality.entry(s.municipality_istat.clone()).or_default() += 1;
    }
    let state = derive::state_schools(&counts, &municipalities, &non_state_per_municipality);
    schools::write_rows(conn, &state.institutions, &state.sites, true, &mut report).await?;
    pupils::write(conn, &counts, &mut report).await?;
    let territory = derive::territory(&municipalities, &state.sites);
    write_territory(conn, &territory).await?;
    Ok(())
}

/// The demo files are fixed: any bad row is a bug in them.
fn strict<T>(what: &str, parsed: Result<Parsed<T>, RowError>) -> anyhow::Result<T> {
    parsed.map_err(|e| vec![e]).and_then(Parsed::strict).map_err(|errors| anyhow::anyhow!("demo {what}: {errors:?}"))
}

/// Strictly, or as published files come: the good rows, with a count of the rest.
fn rows<T>(strict_rows: bool, what: &str, parsed: Result<Parsed<T>, RowError>) -> anyhow::Result<T> {
    if strict_rows {
        return strict(what, parsed);
    }
    let parsed = parsed.map_err(|e| anyhow::anyhow!("{what}: {e:?}"))?;
    if !parsed.errors.is_empty() {
        tracing::info!(what, left_out = parsed.errors.len(), "rows left out of the open data");
    }
    Ok(parsed.data)
}

async fn write_territory(conn: &mut AsyncPgConnection, t: &derive::Territory) -> QueryResult<()> {
    let col = |f: fn(&derive::Ambit) -> &String| t.ambits.iter().map(f).cloned().collect::<Vec<String>>();
    diesel::sql_query(
        "INSERT INTO territorial_ambits (code, province_code, name)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
         ON CONFLICT (code) DO UPDATE SET province_code = EXCLUDED.province_code, name = EXCLUDED.name",
    )
    .bind::<Array<Text>, _>(col(|a| &a.code))
    .bind::<Array<Text>, _>(col(|a| &a.province_code))
    .bind::<Array<Text>, _>(col(|a| &a.name))
    .execute(conn)
    .await?;
    let (istat, ambit): (Vec<String>, Vec<String>) = t.ambit_of.iter().map(|(m, a)| (m.clone(), a.clone())).unzip();
    diesel::sql_query(
        "UPDATE municipalities SET ambit_code = u.ambit FROM unnest($1::text[], $2::text[]) AS u(istat, ambit)
         WHERE municipalities.istat_code = u.istat",
    )
    .bind::<Array<Text>, _>(istat)
    .bind::<Array<Text>, _>(ambit)
    .execute(conn)
    .await?;
    for h in &t.hubs {
        diesel::sql_query(
            "INSERT INTO hubs (code, kind, name, province_code, ambit_code, municipality_istat, city_zones)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (code) DO UPDATE SET kind = EXCLUDED.kind, name = EXCLUDED.name,
                 province_code = EXCLUDED.province_code, ambit_code = EXCLUDED.ambit_code,
                 municipality_istat = EXCLUDED.municipality_istat, city_zones = EXCLUDED.city_zones",
        )
        .bind::<Text, _>(&h.code)
        .bind::<Text, _>(h.kind)
        .bind::<Text, _>(&h.name)
        .bind::<Text, _>(&h.province_code)
        .bind::<diesel::sql_types::Nullable<Text>, _>(&h.ambit_code)
        .bind::<diesel::sql_types::Nullable<Text>, _>(&h.city)
        .bind::<diesel::sql_types::Nullable<Array<diesel::sql_types::Integer>>, _>(
            (!h.zones.is_empty()).then(|| h.zones.clone()),
        )
        .execute(conn)
        .await?;
        diesel::sql_query(
            "INSERT INTO hub_sites (hub_code, site_code) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
        )
        .bind::<Text, _>(&h.code)
        .bind::<Array<Text>, _>(&h.sites)
        .execute(conn)
        .await?;
    }
    Ok(())
}
