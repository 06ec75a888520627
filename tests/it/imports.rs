//! Importers against the files exactly as published in ../shared/data.

use ambito::import::{ImportError, ImportOptions, ImportReport, istat, pupils, schools};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::harness::{TestDb, shared_data};

fn read(file: &str) -> Vec<u8> {
    std::fs::read(shared_data(file)).unwrap()
}

async fn count(conn: &mut AsyncPgConnection, table: &str, filter: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let row: N =
        diesel::sql_query(format!("SELECT count(*) AS n FROM {table} WHERE {filter}")).get_result(conn).await.unwrap();
    row.n
}

const STRICT: ImportOptions = ImportOptions { skip_bad_rows: false };
const LENIENT: ImportOptions = ImportOptions { skip_bad_rows: true };

fn import_error(err: anyhow::Error) -> ImportError {
    err.downcast::<ImportError>().expect("an import error listing bad rows")
}

async fn municipalities(conn: &mut AsyncPgConnection) -> ImportReport {
    istat::import(conn, "istat-comuni-2024.csv", &read("istat-comuni-2024.csv"), STRICT).await.unwrap()
}

#[tokio::test]
async fn istat_file_imports_every_municipality_once() {
    let db = TestDb::empty().await;
    let mut conn = db.conn().await;
    let first = municipalities(&mut conn).await;
    assert_eq!((first.rows, first.inserted, first.updated), (7896, 7896, 0));
    assert_eq!(count(&mut conn, "municipalities", "province_code = 'BG'").await, 243);
    assert_eq!(count(&mut conn, "municipalities", "province_code = 'MI'").await, 133);
    assert_eq!(
        count(&mut conn, "municipalities", "province_code IN (SELECT code FROM provinces WHERE region = 'Lombardia')")
            .await,
        1502
    );
    assert_eq!(
        count(
            &mut conn,
            "municipalities",
            "istat_code = '016008' AND belfiore_code = 'A246' AND name = 'Alzano Lombardo'"
        )
        .await,
        1
    );

    let again = municipalities(&mut conn).await;
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 7896), "a second run changes nothing");
}

#[tokio::test]
async fn a_newer_istat_file_updates_what_changed() {
    let db = TestDb::empty().await;
    let mut conn = db.conn().await;
    municipalities(&mut conn).await;
    // The same file with one municipality renamed, as a later edition would have it.
    let text = encoding_rs::mem::decode_latin1(&read("istat-comuni-2024.csv")).into_owned();
    let renamed = text.replacen(";Alzano Lombardo;Alzano Lombardo;", ";Alzano Lombardo;Alzano di Sopra;", 1);
    let bytes: Vec<u8> = renamed.chars().map(|c| c as u32 as u8).collect();
    let report = istat::import(&mut conn, "newer.csv", &bytes, STRICT).await.unwrap();
    assert_eq!((report.inserted, report.updated, report.unchanged), (0, 1, 7895));
    assert_eq!(count(&mut conn, "municipalities", "istat_code = '016008' AND name = 'Alzano di Sopra'").await, 1);
}

#[tokio::test]
async fn a_corrupted_istat_row_is_reported_by_line_and_nothing_is_imported() {
    let db = TestDb::empty().await;
    let mut conn = db.conn().await;
    let mut bytes = read("istat-comuni-2024.csv");
    // Alzano Lombardo's row is line 1758 of the published file.
    let at = bytes.windows(7).position(|w| w == b";016008").unwrap();
    bytes[at + 1..at + 7].copy_from_slice(b"01600X");
    let err = import_error(istat::import(&mut conn, "corrupt.csv", &bytes, STRICT).await.unwrap_err());
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].line, 1758);
    assert_eq!(err.errors[0].field.as_deref(), Some("Codice Comune formato alfanumerico"));
    let text = err.to_string();
    assert!(text.contains("corrupt.csv:1758: Codice Comune formato alfanumerico:"), "{text}");
    assert_eq!(count(&mut conn, "municipalities", "true").await, 0);
    assert_eq!(count(&mut conn, "provinces", "true").await, 0);
}

#[tokio::test]
async fn state_and_non_state_registries_import_and_reimport_unchanged() {
    let db = TestDb::empty().await;
    let mut conn = db.conn().await;
    municipalities(&mut conn).await;
    let state = read("mim-scuole-statali-autonome-2023-24.csv");
    let report = schools::import(&mut conn, "statali", &state, STRICT).await.unwrap();
    assert_eq!(report.kind, "state schools");
    assert_eq!((report.rows, report.inserted), (1182, 1182));
    let institutions = count(&mut conn, "institutions", "kind = 'state'").await;
    assert_eq!(institutions, 223, "one per CODICEISTITUTORIFERIMENTO");
    assert_eq!(
        count(
            &mut conn,
            "sites",
            "code = 'AO1A008020' AND institution_code = 'AOIP008000' AND school_order = 'infanzia'"
        )
        .await,
        1
    );
    let again = schools::import(&mut conn, "statali", &state, STRICT).await.unwrap();
    assert_eq!((again.inserted, again.updated, again.unchanged, again.institutions_changed), (0, 0, 1182, 0));
}

#[tokio::test]
async fn the_national_non_state_registry_names_municipalities_istat_no_longer_lists() {
    let db = TestDb::empty().await;
    let mut conn = db.conn().await;
    municipalities(&mut conn).await;
    let national = read("mim-scuole-paritarie-2023-24.csv");
    // As published, eight rows name merged municipalities: refused whole by default.
    let err = import_error(schools::import(&mut conn, "paritarie", &national, STRICT).await.unwrap_err());
    let lines: Vec<u64> = err.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [434, 5080, 5257, 5468, 6091, 6867, 9474, 10252]);
    assert!(err.errors.iter().all(|e| e.field.as_deref() == Some("CODICECOMUNESCUOLA")));
    assert_eq!(count(&mut conn, "sites", "true").await, 0);

    // With --skip-bad-rows the rest goes in and the eight are listed.
    let started = std::time::Instant::now();
    let report = schools::import(&mut conn, "paritarie", &national, LENIENT).await.unwrap();
    println!("non-state national file: {} rows in {:?}", report.rows, started.elapsed());
    assert_eq!((report.rows, report.inserted, report.rejected.len()), (11862, 11862, 8));
    assert!(report.to_string().contains("paritarie:434: CODICECOMUNESCUOLA: no municipality has Belfiore code H521"));
    assert_eq!(count(&mut conn, "institutions", "kind = 'non_state'").await, 11862);
    // "-----" is the publisher's placeholder for a missing postal code.
    assert_eq!(count(&mut conn, "sites", "postal_code IS NULL").await, 3);
}

#[tokio::test]
async fn a_newer_registry_updates_and_an_older_one_does_not() {
    let db = TestDb::empty().await;
    let mut conn = db.conn().await;
    municipalities(&mut conn).await;
    let published = String::from_utf8(read("mim-scuole-statali-autonome-2023-24.csv")).unwrap();
    schools::import(&mut conn, "2023-24", published.as_bytes(), STRICT).await.unwrap();
    // The same registry as another year would publish it, one site renamed.
    let edition = |year: &str| {
        published.replace("\n202324,", &format!("\n{year},")).replacen(
            "infanzia  Saint-Pierre",
            "infanzia Saint-Pierre Capoluogo",
            1,
        )
    };
    let older = schools::import(&mut conn, "2022-23", edition("202223").as_bytes(), STRICT).await.unwrap();
    assert_eq!((older.updated, older.unchanged), (0, 1182), "an older edition never replaces a newer one");
    let newer = schools::import(&mut conn, "2024-25", edition("202425").as_bytes(), STRICT).await.unwrap();
    assert_eq!(newer.updated, 1182, "every site moves to the newer school year");
    assert_eq!(count(&mut conn, "sites", "name = 'infanzia Saint-Pierre Capoluogo' AND school_year = 202425").await, 1);
}

#[tokio::test]
async fn registry_errors_name_file_line_and_field_and_change_nothing() {
    let db = TestDb::empty().await;
    let mut conn = db.conn().await;
    let state = read("mim-scuole-statali-autonome-2023-24.csv");

    // Before the municipalities are known, every Belfiore code is unknown.
    let err = import_error(schools::import(&mut conn, "statali", &state, STRICT).await.unwrap_err());
    assert_eq!(err.errors.len(), 1182);
    assert_eq!((err.errors[0].line, err.errors[0].field.as_deref()), (2, Some("CODICECOMUNESCUOLA")));
    assert!(err.errors[0].reason.contains("no municipality has Belfiore code H674"), "{:?}", err.errors[0]);

    municipalities(&mut conn).await;
    // A malformed codice meccanografico on line 3.
    let text = String::from_utf8(state.clone()).unwrap();
    let broken = text.replacen("AOTL010008", "AOTL01008", 1);
    let err = import_error(schools::import(&mut conn, "statali", broken.as_bytes(), STRICT).await.unwrap_err());
    assert_eq!(err.errors.len(), 1);
    assert_eq!((err.errors[0].line, err.errors[0].field.as_deref()), (3, Some("CODICESCUOLA")));
    assert!(err.to_string().contains("statali:3: CODICESCUOLA: must be 10 characters, found 9"), "{err}");

    // Latin-1 bytes where UTF-8 is due: refused even with --skip-bad-rows.
    let mut latin1 = state.clone();
    let pos = latin1.windows(2).position(|w| w == "é".as_bytes()).unwrap();
    latin1.splice(pos..pos + 2, [0xE9u8]);
    let err = import_error(schools::import(&mut conn, "latin1", &latin1, LENIENT).await.unwrap_err());
    assert!(err.errors[0].reason.contains("not valid UTF-8"), "{err}");

    // Another publisher's file.
    let err =
        import_error(schools::import(&mut conn, "istat", &read("istat-comuni-2024.csv"), STRICT).await.unwrap_err());
    assert!(err.errors[0].reason.contains("unknown column layout"), "{err}");

    assert_eq!(count(&mut conn, "sites", "true").await, 0);
    assert_eq!(count(&mut conn, "institutions", "true").await, 0);
}

#[tokio::test]
async fn pupil_counts_apply_to_known_sites() {
    let db = TestDb::demo().await;
    let mut conn = db.conn().await;
    diesel::sql_query("UPDATE sites SET pupils = NULL, pupils_at_most = NULL").execute(&mut conn).await.unwrap();
    let started = std::time::Instant::now();
    let report = pupils::import(&mut conn, "alunni", &read("mim-alunni-per-sede-2024-25.csv"), STRICT).await.unwrap();
    println!("pupils national file: {} rows in {:?}", report.rows, started.elapsed());
    assert_eq!(report.rows, 51397);
    let demo_sites = count(&mut conn, "sites", "code IN (SELECT code FROM sites)").await as u64;
    assert!(report.updated > 2800 && report.updated <= demo_sites, "{report:?}");
    assert_eq!(report.skipped, report.rows as u64 - report.updated);
    assert_eq!(count(&mut conn, "sites", "code = 'BGMM82101V' AND pupils = 328").await, 1);
    assert!(count(&mut conn, "sites", "pupils IS NULL AND pupils_at_most = 3").await > 0, "\"<=3\" is kept as a bound");
    let again = pupils::import(&mut conn, "alunni", &read("mim-alunni-per-sede-2024-25.csv"), STRICT).await.unwrap();
    assert_eq!(again.updated, 0);
}
