//! The `ambito` binary as an operator runs it: its own embedded cluster, and
//! imports that report and exit with a status.

use std::process::Command;

use crate::harness::{TestDb, shared_data};

fn ambito() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ambito"));
    cmd.env_remove("DATABASE_URL").env("AMBITO_LOG", "warn");
    cmd
}

#[tokio::test]
async fn import_commands_report_and_refuse_bad_files() {
    let db = TestDb::empty().await;
    let ok = ambito()
        .args(["--database-url", &db.url, "import", "municipalities"])
        .arg(shared_data("istat-comuni-2024.csv"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.contains("7896 rows of municipalities: 7896 inserted, 0 updated, 0 unchanged"), "{out}");

    let bad = ambito()
        .args(["--database-url", &db.url, "import", "schools"])
        .arg(shared_data("istat-comuni-2024.csv"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("istat-comuni-2024.csv:1: unknown column layout"), "{err}");
    assert!(err.contains("nothing was imported"), "{err}");
}

#[test]
fn migrate_creates_reuses_and_stops_its_embedded_cluster() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = ambito().arg("--data-dir").arg(dir.path()).arg("migrate").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrations are up to date"));
    }
    let pg = dir.path().join("postgres");
    assert!(pg.join("PG_VERSION").is_file(), "the cluster lives under the data dir");
    assert!(!pg.join("postmaster.pid").exists(), "the cluster is stopped when the command ends");
}

#[test]
fn export_schema_prints_the_sdl() {
    let out = ambito().arg("export-schema").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ambito::graphql::sdl());
}
