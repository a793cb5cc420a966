//! Reopening: everything persists; migrations are idempotent; newer files are refused.

mod common;

use common::*;
use postwatch_fleetstore::{schema::SCHEMA_VERSION, FindingFilter, Store, StoreError};
use postwatch_model::{InUse, Severity};
use time::macros::{date, datetime};

#[test]
fn everything_persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let openssl = pkg("openssl", "3.0.11-1");
    let (id, token, before_inv, before_asset, before_findings, before_history, before_summary) = {
        let store = open(dir.path());
        let token = store.create_api_token("ci").unwrap();
        let (_, id) = store
            .store_report(
                &full(
                    "r1",
                    host_ref("web-1"),
                    vec![openssl.clone(), pypi("six", "1.16.0")],
                ),
                None,
            )
            .unwrap();
        let id = id.unwrap();
        store
            .replace_findings(
                id,
                &[finding(
                    "CVE-1",
                    &openssl,
                    Severity::High,
                    InUse::Yes,
                    true,
                    55.0,
                )],
                datetime!(2024-05-01 10:00 UTC),
            )
            .unwrap();
        store
            .replace_findings(id, &[], datetime!(2024-05-02 10:00 UTC))
            .unwrap();
        (
            id,
            token,
            store.inventory(id).unwrap(),
            store.asset(id).unwrap(),
            store
                .findings(&FindingFilter {
                    include_resolved: true,
                    ..Default::default()
                })
                .unwrap(),
            store
                .history(None, date!(2024 - 01 - 01), date!(2024 - 12 - 31))
                .unwrap(),
            store.fleet_summary().unwrap(),
        )
    };
    // Dropped: reopen twice (the second open must find nothing to migrate).
    for _ in 0..2 {
        let store = open(dir.path());
        assert_eq!(store.inventory(id).unwrap(), before_inv);
        assert_eq!(store.asset(id).unwrap(), before_asset);
        assert_eq!(
            store
                .findings(&FindingFilter {
                    include_resolved: true,
                    ..Default::default()
                })
                .unwrap(),
            before_findings
        );
        assert_eq!(
            store
                .history(None, date!(2024 - 01 - 01), date!(2024 - 12 - 31))
                .unwrap(),
            before_history
        );
        assert_eq!(store.fleet_summary().unwrap(), before_summary);
        assert!(store.authenticate(&token).unwrap().is_some());
    }
    // The latest report id survives too: a delta on it applies after reopening.
    {
        let store = open(dir.path());
        let (ack, _) = store
            .store_report(&delta("d-1", host_ref("web-1"), "r1", vec![], vec![]), None)
            .unwrap();
        assert!(ack.stored, "{ack:?}");
    }
    assert_eq!(before_history.len(), 2);
    assert_eq!(
        before_findings[0].resolved_at.as_deref(),
        Some("2024-05-02T10:00:00Z")
    );

    let conn = rusqlite::Connection::open(dir.path().join("fleet.db")).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    {
        let conn = rusqlite::Connection::open(dir.path().join("fleet.db")).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    match Store::open(dir.path()) {
        Err(StoreError::SchemaTooNew {
            found, supported, ..
        }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected SchemaTooNew, got {other:?}"),
    }
}

#[test]
fn a_damaged_row_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let openssl = pkg("openssl", "3.0.11-1");
    let (_, id) = store
        .store_report(&full("r1", host_ref("web-1"), vec![openssl.clone()]), None)
        .unwrap();
    let id = id.unwrap();
    store
        .replace_findings(
            id,
            &[finding(
                "CVE-1",
                &openssl,
                Severity::High,
                InUse::Yes,
                true,
                55.0,
            )],
            datetime!(2024-05-01 10:00 UTC),
        )
        .unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("fleet.db")).unwrap();
        conn.execute("UPDATE findings SET data = x'7a0001'", [])
            .unwrap();
        conn.execute("UPDATE packages SET data = x'7b'", [])
            .unwrap();
    }
    let err = store.findings(&FindingFilter::default()).unwrap_err();
    assert!(err.to_string().contains("finding row"), "{err}");
    let err = store.inventory(id).unwrap_err();
    assert!(
        err.to_string().contains("package pkg:deb/debian/openssl"),
        "{err}"
    );
    // The store keeps working after a failed read.
    assert!(store.fleet_summary().is_ok());
}

#[test]
fn open_fails_cleanly_on_a_file_in_the_way() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("store");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let err = Store::open(&blocker).unwrap_err();
    assert!(err.to_string().contains("store"), "{err}");
    // A file that is not SQLite.
    let d2 = dir.path().join("d2");
    std::fs::create_dir(&d2).unwrap();
    std::fs::write(d2.join("fleet.db"), vec![0x42u8; 8192]).unwrap();
    let err = Store::open(&d2).unwrap_err();
    assert!(
        err.to_string().contains("fleet.db") || err.to_string().contains("fleet store"),
        "{err}"
    );
}

/// An acknowledged report survives the process being killed right after the
/// acknowledgement (SIGKILL: no destructors, no checkpoint; the WAL is recovered).
#[test]
fn an_acknowledged_report_survives_a_killed_process() {
    use std::io::{BufRead, BufReader, Write};
    const CHILD: &str = "POSTWATCH_FLEETSTORE_CRASH_CHILD_DIR";
    if let Ok(dir) = std::env::var(CHILD) {
        // The child: store, acknowledge on stdout, then wait to be killed.
        let store = open(std::path::Path::new(&dir));
        let (ack, _) = store
            .store_report(
                &full(
                    "crash-1",
                    host_ref("victim"),
                    vec![pkg("openssl", "3.0.11-1")],
                ),
                None,
            )
            .unwrap();
        assert!(ack.stored);
        let mut out = std::io::stdout();
        writeln!(out, "ACK {}", ack.report_id).unwrap();
        out.flush().unwrap();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_acknowledged_report_survives_a_killed_process",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = false;
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().starts_with("ACK crash-1") {
            acked = true;
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(acked, "the child acknowledged the report");
    let store = open(dir.path());
    let id = store
        .asset_id(postwatch_model::fleet::AssetKind::Host, "victim")
        .unwrap()
        .expect("asset persisted");
    let inv = store.inventory(id).unwrap().unwrap();
    assert_eq!(inv.report_id.as_deref(), Some("crash-1"));
    assert_eq!(inv.packages, vec![pkg("openssl", "3.0.11-1")]);
}
