//! Tampering and damage: the chain names the first bad event; foreign, damaged or mismatched
//! files are refused with an error naming the file.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use meterlab_store::{
    IngestKey, Payload, Projector, SqliteReader, Store, StoreConfig, StoreError, StoredEvent,
    Verification, replay_into,
};
use rusqlite::Connection;

fn filled_store(dir: &Path, events: u64) -> PathBuf {
    let path = dir.join("lab.db");
    let store = Store::open_sqlite(&path, StoreConfig::default()).unwrap();
    for s in 1..=events {
        let body = format!("{{\"case\":{s},\"status\":\"passed\"}}");
        store
            .ingest_blocking(
                IngestKey::new("src", "run", s),
                Payload::new("case_result", body),
                1,
            )
            .unwrap();
    }
    path
}

/// Edits the file behind the store's back, the way someone with file access could.
fn tamper(path: &Path, sql: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;",
    )
    .unwrap();
    conn.execute_batch(sql).unwrap();
}

fn verify_file(path: &Path) -> Verification {
    meterlab_store::chain::verify(&SqliteReader::open(path).unwrap()).unwrap()
}

#[test]
fn intact_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 20);
    assert!(matches!(
        verify_file(&path),
        Verification::Intact { events: 20, .. }
    ));
}

#[test]
fn store_refuses_updates_and_deletes_through_sql() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 3);
    let conn = Connection::open(&path).unwrap();
    let err = conn
        .execute("UPDATE events SET body = x'00' WHERE seq = 2", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    assert!(
        conn.execute("DELETE FROM events WHERE seq = 3", [])
            .is_err()
    );
}

#[test]
fn altered_body_is_reported_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 20);
    tamper(
        &path,
        "UPDATE events SET body = CAST('{\"case\":7,\"status\":\"failed\"}' AS BLOB) WHERE seq = 7",
    );
    match verify_file(&path) {
        Verification::Broken { seq, reason } => {
            assert_eq!(seq, 7);
            assert!(reason.contains("does not match"), "{reason}");
        }
        other => panic!("tampering not detected: {other:?}"),
    }
}

#[test]
fn rehashed_row_breaks_its_successor() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 10);
    // Forge event 4 with a self-consistent hash: the chain still breaks at event 5.
    let reader = SqliteReader::open(&path).unwrap();
    let events = meterlab_store::LogReader::read_range(&reader, 3, 2).unwrap();
    let mut forged = events[1].clone();
    forged.timestamp_ms = 42;
    let hash = meterlab_store::chain::expected_hash(&events[0].hash, &forged);
    drop(reader);
    tamper(
        &path,
        &format!(
            "UPDATE events SET ts_ms = 42, hash = x'{}' WHERE seq = 4",
            hex::encode(hash)
        ),
    );
    assert!(matches!(
        verify_file(&path),
        Verification::Broken { seq: 5, .. }
    ));
}

#[test]
fn deleted_row_is_reported_as_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 10);
    tamper(&path, "DELETE FROM events WHERE seq = 6");
    match verify_file(&path) {
        Verification::Broken { seq, reason } => {
            assert_eq!(seq, 6);
            assert!(reason.contains("found #7"), "{reason}");
        }
        other => panic!("deletion not detected: {other:?}"),
    }
}

#[test]
fn malformed_hash_column_is_reported_at_its_seq() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 5);
    tamper(&path, "UPDATE events SET hash = x'0102' WHERE seq = 3");
    match verify_file(&path) {
        Verification::Broken { seq, reason } => {
            assert_eq!(seq, 3);
            assert!(reason.contains("2 bytes"), "{reason}");
        }
        other => panic!("malformed row not detected: {other:?}"),
    }
}

struct Count(u64);
impl Projector for Count {
    type Error = std::convert::Infallible;
    fn name(&self) -> &str {
        "count"
    }
    fn apply(&mut self, _: &StoredEvent) -> Result<(), Self::Error> {
        self.0 += 1;
        Ok(())
    }
    fn fingerprint(&self) -> meterlab_store::Hash {
        let mut f = [0; 32];
        f[..8].copy_from_slice(&self.0.to_be_bytes());
        f
    }
}

#[test]
fn replay_refuses_a_tampered_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 8);
    tamper(&path, "UPDATE events SET kind = 'forged' WHERE seq = 2");
    let mut count = Count(0);
    let err = replay_into(&SqliteReader::open(&path).unwrap(), &mut count).unwrap_err();
    assert!(
        matches!(err, StoreError::ChainBroken { seq: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("lab.db"), "{err}");
    assert_eq!(count.0, 1, "nothing after the break may be projected");
}

#[test]
fn garbage_file_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Store::open_sqlite(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().contains("garbage.db"), "{err}");
}

#[test]
fn foreign_sqlite_database_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let err = Store::open_sqlite(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().contains("other.db"), "{err}");
}

#[test]
fn schema_version_mismatch_names_the_file_and_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 1);
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Store::open_sqlite(&path, StoreConfig::default()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaVersion {
                found: 99,
                expected: 1,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("lab.db") && text.contains("99"), "{text}");
    assert!(matches!(
        SqliteReader::open(&path).unwrap_err(),
        StoreError::SchemaVersion { .. }
    ));
}

#[test]
fn damaged_pages_are_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 400);
    // Fold the WAL into the main file, then overwrite the middle of it.
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 4 * 4096,
        "store too small to damage: {}",
        bytes.len()
    );
    let mid = bytes.len() / 2;
    bytes[mid..mid + 4096].fill(0xA5);
    std::fs::write(&path, bytes).unwrap();
    let err = Store::open_sqlite(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("lab.db"), "{err}");
}

#[test]
fn missing_file_for_reading_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteReader::open(dir.path().join("absent.db")).unwrap_err();
    assert!(err.to_string().contains("absent.db"), "{err}");
}
