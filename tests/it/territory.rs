//! The territory through GraphQL, as a front end reads it.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::harness::TestApp;

fn strings(v: &Value, field: &str) -> Vec<String> {
    v.as_array().unwrap().iter().map(|n| n[field].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn municipalities_by_province_count_bergamo_and_milano() {
    let app = TestApp::demo().await;
    let q = "query($p: String) { municipalities(first: 5, filter: { province: $p }) { totalCount nodes { istatCode name } } }";
    let bg = app.query(q, json!({ "p": "BG" })).await;
    assert_eq!(bg["municipalities"]["totalCount"], 243);
    assert_eq!(bg["municipalities"]["nodes"][0], json!({ "istatCode": "016001", "name": "Adrara San Martino" }));
    let mi = app.query(q, json!({ "p": "mi" })).await;
    assert_eq!(mi["municipalities"]["totalCount"], 133, "province codes are case-insensitive");
}

#[tokio::test]
async fn the_institution_of_seed_002_with_its_five_sites_in_alzano() {
    let app = TestApp::demo().await;
    let data = app
        .query(
            r#"{ schools(filter: { codePrefix: "BGIC821" }) {
                   totalCount
                   nodes { code name kind municipality { istatCode name } email
                           sites { code order municipality { istatCode } pupils } } } }"#,
            json!({}),
        )
        .await;
    let schools = &data["schools"];
    assert_eq!(schools["totalCount"], 1);
    let ic = &schools["nodes"][0];
    assert_eq!(ic["code"], "BGIC82100T");
    assert_eq!(ic["kind"], "STATE");
    assert_eq!(ic["email"], "bgic82100t@istruzione.it");
    assert_eq!(ic["municipality"], json!({ "istatCode": "016008", "name": "Alzano Lombardo" }));
    let sites: Vec<(String, String)> = ic["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["code"].as_str().unwrap().to_owned(), s["order"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        sites,
        [
            ("BGAA82101P", "INFANZIA"),
            ("BGEE82101X", "PRIMARIA"),
            ("BGEE821021", "PRIMARIA"),
            ("BGEE821032", "PRIMARIA"),
            ("BGMM82101V", "SECONDARIA_PRIMO_GRADO"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert!(ic["sites"].as_array().unwrap().iter().all(|s| s["municipality"]["istatCode"] == "016008"));
    // Pupils as published in the Ministry's file.
    assert_eq!(ic["sites"][0]["pupils"], 98);
}

#[tokio::test]
async fn cursor_pages_walk_the_whole_list_once() {
    let app = TestApp::demo().await;
    let q = "query($after: String) { municipalities(first: 100, after: $after, filter: { province: \"BG\" }) {
               pageInfo { hasNextPage hasPreviousPage endCursor } edges { cursor node { istatCode } } } }";
    let mut after = Value::Null;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let data = app.query(q, json!({ "after": after })).await;
        let conn = &data["municipalities"];
        pages += 1;
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], pages > 1);
        for e in conn["edges"].as_array().unwrap() {
            seen.push(e["node"]["istatCode"].as_str().unwrap().to_owned());
        }
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 243);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "in code order, no repeats");
}

#[tokio::test]
async fn page_size_and_cursor_are_checked() {
    let app = TestApp::demo().await;
    let (status, err) = app.query_error("{ municipalities(first: 101) { totalCount } }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "first");
    assert!(err["message"].as_str().unwrap().contains("100"));

    let (_, err) = app.query_error(r#"{ schools(after: "not-a-cursor") { totalCount } }"#, json!({})).await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "after");

    let (_, err) = app.query_error(r#"{ schools(filter: { province: "Bergamo" }) { totalCount } }"#, json!({})).await;
    assert_eq!(err["extensions"]["field"], "filter.province");
    let (_, err) = app.query_error(r#"{ sites(filter: { municipality: "16008" }) { totalCount } }"#, json!({})).await;
    assert_eq!(err["extensions"]["field"], "filter.municipality");
    let (_, err) = app.query_error(r#"{ schools(filter: { codePrefix: "BG%" }) { totalCount } }"#, json!({})).await;
    assert_eq!(err["extensions"]["field"], "filter.codePrefix");
}

#[tokio::test]
async fn filters_by_order_municipality_and_kind() {
    let app = TestApp::demo().await;
    let data = app
        .query(
            r#"{ infanzia: sites(first: 100, filter: { province: "BG", order: INFANZIA }) { totalCount nodes { order province { code } } }
                 alzano: schools(filter: { municipality: "016008" }) { nodes { code } }
                 paritarie: schools(first: 100, filter: { province: "MI", kind: NON_STATE }) { totalCount nodes { kind code } } }"#,
            json!({}),
        )
        .await;
    let infanzia = &data["infanzia"];
    assert!(infanzia["totalCount"].as_i64().unwrap() > 100);
    assert!(
        infanzia["nodes"].as_array().unwrap().iter().all(|n| n["order"] == "INFANZIA" && n["province"]["code"] == "BG")
    );
    assert!(strings(&data["alzano"]["nodes"], "code").contains(&"BGIC82100T".to_owned()));
    let paritarie = &data["paritarie"];
    assert!(paritarie["totalCount"].as_i64().unwrap() > 100);
    assert!(
        paritarie["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["kind"] == "NON_STATE" && n["code"].as_str().unwrap().starts_with("MI"))
    );
}

#[tokio::test]
async fn hubs_and_their_territories() {
    let app = TestApp::demo().await;
    let data = app
        .query(
            r#"{ mi: hubs(filter: { province: "MI", kind: CTI }) { totalCount nodes { code territorialAmbit { code municipalities { totalCount } } } }
                 bg: hubs(filter: { province: "BG", kind: CTI }) { totalCount nodes { territorialAmbit { municipalities { totalCount } } } }
                 start: hubs(filter: { kind: POLO_START }) { totalCount nodes { code territorialAmbit { code }
                        municipalities { nodes { istatCode } }
                        sites(first: 100) { totalCount nodes { order municipality { istatCode } } } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(data["mi"]["totalCount"], 6, "six CTI in the Milan area");
    assert_eq!(data["bg"]["totalCount"], 5, "one CTI per Bergamo ambit");
    let total = |v: &Value| -> i64 {
        v["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["territorialAmbit"]["municipalities"]["totalCount"].as_i64().unwrap())
            .sum()
    };
    assert_eq!(total(&data["mi"]), 133, "the ambits partition the province");
    assert_eq!(total(&data["bg"]), 243);
    let start = &data["start"];
    assert_eq!(start["totalCount"], 4, "four Poli START in Milan city");
    for polo in start["nodes"].as_array().unwrap() {
        assert!(polo["territorialAmbit"].is_null());
        assert_eq!(strings(&polo["municipalities"]["nodes"], "istatCode"), ["015146"], "Milan city only");
        let sites = polo["sites"]["nodes"].as_array().unwrap();
        assert!(polo["sites"]["totalCount"].as_i64().unwrap() > 0);
        let orders: BTreeSet<&str> = sites.iter().map(|s| s["order"].as_str().unwrap()).collect();
        assert!(orders.iter().all(|o| ["INFANZIA", "PRIMARIA", "SECONDARIA_PRIMO_GRADO"].contains(o)), "{orders:?}");
    }
}

#[tokio::test]
async fn lookups_by_code_return_null_when_absent() {
    let app = TestApp::demo().await;
    let data = app
        .query(
            r#"{ school(code: "BGIC82100T") { name } missing: school(code: "ZZIC00000A") { name }
                 site(code: "bgee82101x") { school { code } }
                 municipality(istatCode: "015146") { name province { code name } territorialAmbit { code hub { code } } }
                 province(code: "MI") { name region territorialAmbits { totalCount } } }"#,
            json!({}),
        )
        .await;
    assert!(data["school"]["name"].as_str().unwrap().contains("ALZANO"));
    assert!(data["missing"].is_null());
    assert_eq!(data["site"]["school"]["code"], "BGIC82100T");
    assert_eq!(data["municipality"]["name"], "Milano");
    assert_eq!(data["municipality"]["territorialAmbit"]["code"], "MI-1");
    assert_eq!(data["municipality"]["territorialAmbit"]["hub"]["code"], "CTI-MI-1");
    assert_eq!(data["province"]["region"], "Lombardia");
    assert_eq!(data["province"]["territorialAmbits"]["totalCount"], 6);
}
