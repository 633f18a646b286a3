//! `meterlab store verify` on a real store: written by `meterlab-store`, checked intact, then
//! tampered with through SQLite and checked again (the binary must fail and name the event).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use meterlab_store::{IngestKey, Payload, Store, StoreConfig};

fn meterlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"))
        .args(args)
        .env_remove("METERLAB_LOG")
        .output()
        .unwrap()
}

fn verify(db: &Path, json: bool) -> Output {
    let mut args = vec!["store", "verify", "--db", db.to_str().unwrap()];
    if json {
        args.extend(["--output", "json"]);
    }
    meterlab(&args)
}

/// Writes `n` events (governance-style appends and keyed results) and returns the head hash.
fn write_store(db: &Path, n: u64) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open_sqlite(db, StoreConfig::default()).unwrap();
        for i in 1..=n {
            let body = format!(r#"{{"case":"MT-{i:03}","status":"passed"}}"#).into_bytes();
            if i % 2 == 0 {
                store
                    .ingest(
                        IngestKey::new("bench-1", "run-1", i / 2),
                        Payload::new("test.result", body),
                        1_764_400_000_000 + i as i64,
                    )
                    .await
                    .unwrap();
            } else {
                store
                    .append(
                        Payload::new("test.governance", body),
                        1_764_400_000_000 + i as i64,
                    )
                    .await
                    .unwrap();
            }
        }
        hex::encode(store.head().unwrap().hash)
    })
}

#[test]
fn an_intact_store_verifies_and_a_tampered_one_names_the_altered_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.db");
    let head = write_store(&db, 12);

    let output = verify(&db, false);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("intact, 12 events"), "{text}");
    assert!(text.contains(&format!("head #12 {head}")), "{text}");

    let output = verify(&db, true);
    assert!(output.status.success(), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["intact"], true);
    assert_eq!(json["events"], 12);
    assert_eq!(json["head_seq"], 12);
    assert_eq!(json["head_hash"], head.as_str());

    // Rewrite the body of event 5 behind the store's back (the append-only triggers must be
    // dropped first: they refuse the UPDATE, as they should).
    let conn = rusqlite::Connection::open(&db).unwrap();
    let refused = conn.execute(
        "UPDATE events SET body = CAST('{\"case\":\"MT-005\",\"status\":\"failed\"}' AS BLOB) \
         WHERE seq = 5",
        [],
    );
    assert!(
        refused.is_err(),
        "the append-only trigger let an UPDATE through"
    );
    conn.execute_batch(
        "DROP TRIGGER events_append_only_update;
         UPDATE events SET body = CAST('{\"case\":\"MT-005\",\"status\":\"failed\"}' AS BLOB)
             WHERE seq = 5;",
    )
    .unwrap();
    drop(conn);

    let output = verify(&db, false);
    assert!(!output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("BROKEN at event #5"), "{text}");
    assert!(text.contains("does not match"), "{text}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("broken at event #5"), "{stderr}");

    let output = verify(&db, true);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["intact"], false);
    assert_eq!(json["broken_seq"], 5);
    assert!(
        json["reason"].as_str().unwrap().contains("does not match"),
        "{json}"
    );
}

#[test]
fn a_deleted_event_is_named_and_a_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.db");
    write_store(&db, 6);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TRIGGER events_append_only_delete;
         DELETE FROM events WHERE seq = 3;",
    )
    .unwrap();
    drop(conn);
    let output = verify(&db, false);
    assert!(!output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("BROKEN at event #3"), "{text}");
    assert!(text.contains("expected event #3, found #4"), "{text}");

    let output = verify(&dir.path().join("absent.db"), false);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("absent.db"), "{stderr}");
}
