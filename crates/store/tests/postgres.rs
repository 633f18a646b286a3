//! What only the PostgreSQL backend promises: several stores (gateway replicas) appending to one
//! database keep one hash chain, the log is append-only in the database itself, migrations run at
//! open and are idempotent, and a read-only view verifies the chain by URL.
#![allow(clippy::unwrap_used)]

#[path = "support/postgres.rs"]
mod pg;

use meterlab_store::{IngestKey, Payload, Store, StoreConfig, StoreError, Verification};

fn result(n: u64) -> Payload {
    Payload::new("case_result", format!("{{\"case\":{n}}}").into_bytes())
}

fn open(url: &str) -> Store {
    Store::open_url(url, StoreConfig::default()).unwrap_or_else(|e| panic!("open {url}: {e}"))
}

#[test]
fn two_stores_on_one_database_append_to_one_chain() {
    let url = pg::fresh_database();
    let replicas = [open(&url), open(&url)];
    const EACH: u64 = 60;
    std::thread::scope(|scope| {
        for (r, store) in replicas.iter().enumerate() {
            for t in 0..2 {
                let store = store.clone();
                scope.spawn(move || {
                    for s in 1..=EACH {
                        let key = IngestKey::new(format!("replica-{r}"), format!("run-{t}"), s);
                        store.ingest_blocking(key, result(s), 0).unwrap();
                    }
                });
            }
        }
    });
    // Both replicas replay each other's keys instead of appending them again.
    let replay = replicas[1]
        .ingest_blocking(IngestKey::new("replica-0", "run-0", 7), result(7), 0)
        .unwrap();
    assert!(replay.replayed);
    let conflict = replicas[1]
        .ingest_blocking(IngestKey::new("replica-0", "run-0", 7), result(8), 0)
        .unwrap_err();
    assert!(
        matches!(conflict, StoreError::Conflict { .. }),
        "{conflict:?}"
    );

    let total = 4 * EACH;
    let events = replicas[0].read_range(1, usize::MAX).unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    for store in &replicas {
        assert!(
            matches!(store.verify().unwrap(), Verification::Intact { events, .. } if events == total)
        );
        assert_eq!(store.watermark("replica-1", "run-1").unwrap(), EACH);
    }
}

#[test]
fn the_database_refuses_to_rewrite_or_delete_events() {
    let url = pg::fresh_database();
    let store = open(&url);
    store
        .ingest_blocking(IngestKey::new("a", "b", 1), result(1), 0)
        .unwrap();
    drop(store);
    let database = url.rsplit('/').next().unwrap();
    for sql in [
        "UPDATE events SET body = 'x'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let outcome = std::panic::catch_unwind(|| {
            pg::cluster().psql_in(database, sql);
        });
        assert!(outcome.is_err(), "{sql} was allowed");
    }
    let reader = Store::open_reader(&url).unwrap();
    assert!(matches!(
        meterlab_store::chain::verify(reader.as_ref()).unwrap(),
        Verification::Intact { events: 1, .. }
    ));
}

#[test]
fn reopening_keeps_the_log_and_reapplies_no_migration() {
    let url = pg::fresh_database();
    let first = open(&url)
        .ingest_blocking(IngestKey::new("a", "b", 1), result(1), 0)
        .unwrap();
    let store = open(&url);
    let again = store
        .ingest_blocking(IngestKey::new("a", "b", 1), result(1), 5)
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.ack, first.ack);
    let database = url.rsplit('/').next().unwrap();
    assert_eq!(
        pg::cluster().query_in(database, "SELECT count(*) FROM refinery_schema_history"),
        "1"
    );
}

#[test]
fn a_tampered_row_is_named_by_verify() {
    let url = pg::fresh_database();
    let store = open(&url);
    for s in 1..=3 {
        store
            .ingest_blocking(IngestKey::new("a", "b", s), result(s), 0)
            .unwrap();
    }
    drop(store);
    let database = url.rsplit('/').next().unwrap();
    // Only a superuser disabling the trigger can rewrite history; verify must still catch it.
    pg::cluster().psql_in(
        database,
        "ALTER TABLE events DISABLE TRIGGER events_append_only; \
         UPDATE events SET body = 'forged' WHERE seq = 2",
    );
    let reader = Store::open_reader(&url).unwrap();
    match meterlab_store::chain::verify(reader.as_ref()).unwrap() {
        Verification::Broken { seq, .. } => assert_eq!(seq, 2),
        other => panic!("tampering not detected: {other:?}"),
    }
}

#[test]
fn bad_urls_and_foreign_databases_are_refused_with_their_location() {
    let err =
        Store::open_url("postgres://127.0.0.1:notaport/x", StoreConfig::default()).unwrap_err();
    assert!(err.to_string().contains("URL"), "{err}");

    let url = pg::fresh_database();
    let err = Store::open_reader(&url)
        .err()
        .expect("an empty database is not a store");
    assert!(
        err.to_string().contains("no meterlab store schema"),
        "{err}"
    );
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}
