//! The registry export ("scarica dettaglio anagrafica") as real spreadsheet
//! files, read back with a spreadsheet reader, for each role.

use std::collections::BTreeSet;
use std::io::Cursor;

use ambito::db::schema::{audit_events, pupils, support_requests};
use ambito::rules::school_year::SchoolYear;
use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;

use crate::harness::TestApp;

fn this_year() -> SchoolYear {
    SchoolYear::of(chrono::Utc::now().date_naive())
}

async fn download(app: &TestApp, token: Option<&str>, query: &str) -> (u16, Vec<u8>, String) {
    let mut req = app.http.get(app.url(&format!("/exports/registry?{query}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let disposition =
        resp.headers().get("content-disposition").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, resp.bytes().await.unwrap().to_vec(), disposition)
}

/// The sheet's rows as cells.
fn sheet(bytes: Vec<u8>) -> Vec<Vec<Data>> {
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("a valid xlsx file");
    let range = book.worksheet_range("Anagrafica").expect("the sheet");
    range.rows().map(|r| r.to_vec()).collect()
}

fn text(d: &Data) -> String {
    match d {
        Data::String(s) => s.clone(),
        other => panic!("expected text, found {other:?}"),
    }
}

/// The tax codes of a province's or school's pupils, as stored.
async fn stored_tax_codes(app: &TestApp, school: Option<&str>, province: &str) -> BTreeSet<String> {
    let mut q = pupils::table
        .filter(pupils::school_year.eq(this_year().stored()))
        .filter(pupils::province_code.eq(province.to_owned()))
        .into_boxed();
    if let Some(s) = school {
        q = q.filter(pupils::institution_code.eq(s.to_owned()));
    }
    q.select(pupils::tax_code).load::<String>(&mut app.db().conn().await).await.unwrap().into_iter().collect()
}

#[tokio::test]
async fn a_school_exports_its_own_registry_with_typed_cells() {
    let app = TestApp::demo().await;
    let token = app.login("bgic82100t@istruzione.it").await;
    let year = this_year().to_string();
    let (status, bytes, disposition) = download(&app, Some(&token), &format!("schoolYear={year}&format=xlsx")).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert!(disposition.contains("anagrafica-BGIC82100T-"), "{disposition}");
    let rows = sheet(bytes);
    let headers: Vec<String> = rows[0].iter().map(text).collect();
    assert_eq!(headers, ambito::reports::registry::HEADERS);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();

    let body = &rows[1..];
    let exported: BTreeSet<String> = body.iter().map(|r| text(&r[col("Codice fiscale")])).collect();
    assert_eq!(exported, stored_tax_codes(&app, Some("BGIC82100T"), "BG").await, "exactly the school's pupils");
    for r in body {
        assert_eq!(text(&r[col("Codice istituto")]), "BGIC82100T");
        // Dates are dates, hours and years of study are numbers.
        let Data::DateTime(born) = &r[col("Data di nascita")] else { panic!("birth date is not a date: {r:?}") };
        assert!(born.is_datetime());
        let birth = born.as_datetime().unwrap().date();
        assert!(birth.to_string().starts_with("20"), "{birth}");
        assert!(matches!(r[col("Data certificazione")], Data::DateTime(_)));
        let Data::Float(hours) = r[col("Ore richieste")] else { panic!("hours are not a number: {r:?}") };
        assert!((1.0..=25.0).contains(&hours));
        assert!(matches!(r[col("Classe")], Data::Float(_)));
        let ratio = text(&r[col("Rapporto")]);
        assert!(ratio.starts_with("1:"), "{ratio}");
    }

    // Every exported pupil is a read in the audit trail.
    let ids: Vec<i64> = pupils::table
        .filter(pupils::institution_code.eq("BGIC82100T"))
        .select(pupils::id)
        .load(&mut app.db().conn().await)
        .await
        .unwrap();
    let audited: Vec<Vec<i64>> = audit_events::table
        .filter(audit_events::action.eq("read"))
        .select(audit_events::pupil_ids)
        .load(&mut app.db().conn().await)
        .await
        .unwrap();
    for id in ids {
        assert!(audited.iter().any(|e| e.contains(&id)), "pupil {id} exported without a trail");
    }

    // Another school's registry is not found, like a school that does not exist.
    let (other, _, _) = download(&app, Some(&token), &format!("schoolYear={year}&school=BGIC81900T")).await;
    let (none, _, _) = download(&app, Some(&token), &format!("schoolYear={year}&school=BGIC00000X")).await;
    assert_eq!((other, none), (404, 404));
}

#[tokio::test]
async fn the_office_exports_its_province_as_csv_filtered() {
    let app = TestApp::demo().await;
    let token = app.login("ufficio.bg@ambito.invalid").await;
    let year = this_year().to_string();
    let (status, bytes, disposition) = download(&app, Some(&token), &format!("schoolYear={year}&format=csv")).await;
    assert_eq!(status, 200);
    assert!(disposition.ends_with(".csv\""), "{disposition}");
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "a byte-order mark for spreadsheets");
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(&bytes[3..]);
    let headers: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let tax = headers.iter().position(|h| h == "Codice fiscale").unwrap();
    let born = headers.iter().position(|h| h == "Data di nascita").unwrap();
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let exported: BTreeSet<String> = records.iter().map(|r| r[tax].to_owned()).collect();
    assert_eq!(exported, stored_tax_codes(&app, None, "BG").await, "the whole province, nothing of Milano");
    assert!(records.iter().all(|r| chrono::NaiveDate::parse_from_str(&r[born], "%Y-%m-%d").is_ok()));

    // Filtered to one school and order.
    let (_, bytes, _) =
        download(&app, Some(&token), &format!("schoolYear={year}&format=xlsx&school=BGIC82100T&order=PRIMARIA")).await;
    let rows = sheet(bytes);
    assert!(rows.len() > 1);
    assert!(rows[1..].iter().all(|r| text(&r[1]) == "BGIC82100T" && text(&r[6]) == "scuola primaria"));
}

#[tokio::test]
async fn exports_need_a_session_a_policy_and_good_parameters() {
    let app = TestApp::demo().await;
    let year = this_year().to_string();
    let (status, body, _) = download(&app, None, &format!("schoolYear={year}")).await;
    assert_eq!(status, 401);
    let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(err["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    let hub = app.login("cti.bg1@ambito.invalid").await;
    assert_eq!(download(&app, Some(&hub), &format!("schoolYear={year}")).await.0, 403);

    let school = app.login("bgic82100t@istruzione.it").await;
    for (query, field) in [
        ("format=xlsx", "schoolYear"),
        ("schoolYear=2026-27", "schoolYear"),
        (&*format!("schoolYear={year}&format=pdf"), "format"),
    ] {
        let (status, body, _) = download(&app, Some(&school), query).await;
        assert_eq!(status, 400, "{query}");
        let err: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(err["errors"][0]["extensions"]["field"], field, "{query}");
    }
}

/// The text of every page, as a PDF reader extracts it.
pub fn pdf_text(bytes: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(bytes).expect("a PDF a reader opens");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    doc.extract_text(&pages).expect("extractable text")
}

#[tokio::test]
async fn the_summary_for_signature_states_the_totals_without_names() {
    let app = TestApp::demo().await;
    let year = this_year();
    let school = app.login("bgic82100t@istruzione.it").await;
    let url = |q: &str| format!("/exports/support-summary?schoolYear={year}{q}");
    let get = |token: String, q: String| {
        let req = app.http.get(app.url(&url(&q))).bearer_auth(token);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.bytes().await.unwrap().to_vec())
        }
    };
    let (status, bytes) = get(school.clone(), String::new()).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&bytes));
    assert!(bytes.starts_with(b"%PDF-"));
    let raw = String::from_utf8_lossy(&bytes);
    assert!(raw.contains("<pdfaid:part>2</pdfaid:part>") && raw.contains("/FontFile2"), "PDF/A-2b markers");

    let text = pdf_text(&bytes);
    assert!(text.contains("Sintesi delle ore richieste per l'organico di sostegno"), "{text}");
    assert!(text.contains("BGIC82100T"));
    assert!(text.contains(&format!("Anno scolastico {year}")));
    // The total is the database's sum of the school's requested hours.
    let (hours, names): (Vec<i32>, Vec<(String, String)>) = {
        let mut conn = app.db().conn().await;
        let hours = support_requests::table
            .filter(support_requests::institution_code.eq("BGIC82100T"))
            .select(support_requests::hours)
            .load(&mut conn)
            .await
            .unwrap();
        let names = pupils::table
            .filter(pupils::institution_code.eq("BGIC82100T"))
            .select((pupils::last_name, pupils::tax_code))
            .load(&mut conn)
            .await
            .unwrap();
        (hours, names)
    };
    let total: i32 = hours.iter().sum();
    assert!(text.contains(&format!("Totale ore richieste: {total}")), "{text}");
    assert!(text.contains("AL-0"), "pupils by internal code");
    for (last, tax) in &names {
        assert!(!text.contains(tax.as_str()), "the summary shows a tax code");
        assert!(!text.contains(&format!(" {last} ")), "the summary shows the surname {last}");
    }

    // The export's audit event names the pupils the summary shows (by
    // initials and certification): every pupil with a support request.
    let (named, requested): (Vec<Vec<i64>>, Vec<i64>) = {
        let mut conn = app.db().conn().await;
        let named = audit_events::table
            .filter(audit_events::object_kind.eq("support_summary"))
            .select(audit_events::pupil_ids)
            .load(&mut conn)
            .await
            .unwrap();
        let requested = support_requests::table
            .filter(support_requests::institution_code.eq("BGIC82100T"))
            .select(support_requests::pupil_id)
            .load(&mut conn)
            .await
            .unwrap();
        (named, requested)
    };
    assert_eq!(named.len(), 1, "one export event");
    assert!(!requested.is_empty());
    for p in &requested {
        assert!(named[0].contains(p), "pupil {p} is in the summary but not in its event");
    }

    // The office gets any school of its province; out of scope is not found.
    let office = app.login("ufficio.bg@ambito.invalid").await;
    assert_eq!(get(office, "&school=BGIC82100T".into()).await.0, 200);
    let mi = app.login("ufficio.mi@ambito.invalid").await;
    assert_eq!(get(mi, "&school=BGIC82100T".into()).await.0, 404);
    let (_, other) = crate::registry::other_school();
    assert_eq!(get(school.clone(), format!("&school={other}")).await.0, 404);
    assert_eq!(get(school, "&school=ZZIC00000Z".into()).await.0, 404);
}

/// The review's attack: a school plants a formula in a pupil's name, and
/// the office's spreadsheet would run it on opening the CSV. The cell is
/// written as text.
#[tokio::test]
async fn a_formula_in_a_pupils_name_reaches_the_csv_as_text() {
    let app = TestApp::demo().await;
    let school = app.login("bgic82100t@istruzione.it").await;
    let class = crate::registry::a_primaria_class(&app, &school).await;
    let hostile = "=HYPERLINK(\"http://evil.example/x\",\"Rossi\")";
    let mut input = crate::registry::new_pupil(&class, hostile, "C1");
    input["certification"]["issuedBy"] = serde_json::json!("@SUM(1+1)*cmd|' /C calc'!A0");
    app.query_as(&school, crate::registry::CREATE, serde_json::json!({ "i": input })).await;
    let office = app.login("ufficio.bg@ambito.invalid").await;
    let (status, bytes, _) = download(&app, Some(&office), &format!("schoolYear={}&format=csv", this_year())).await;
    assert_eq!(status, 200);
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(&bytes[3..]);
    let cells: Vec<String> =
        reader.records().flat_map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>()).collect();
    assert!(cells.contains(&format!("'{hostile}")), "the name is there, as text");
    assert!(cells.contains(&"'@SUM(1+1)*cmd|' /C calc'!A0".to_owned()), "so is the issuer");
    let live: Vec<&String> = cells.iter().filter(|c| c.starts_with(['=', '+', '@', '\t', '\r'])).collect();
    assert!(live.is_empty(), "cells a spreadsheet would run: {live:?}");
    // The xlsx stores text cells as strings, never as formulas: the name is there verbatim.
    let (status, bytes, _) = download(&app, Some(&office), &format!("schoolYear={}", this_year())).await;
    assert_eq!(status, 200);
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes.clone())).unwrap();
    let formulas = book.worksheet_formula("Anagrafica").unwrap();
    assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "the workbook holds no formula");
    assert!(sheet(bytes).iter().flatten().any(|d| matches!(d, Data::String(s) if s == hostile)));
}
