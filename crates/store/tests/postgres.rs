//! What only the PostgreSQL backend promises: several stores (gateway replicas) appending to one
//! database keep one hash chain, the log is append-only in the database itself, migrations run at
//! open and are idempotent, and a read-only view verifies the chain by URL. Replicas follow each
//! other's appends and lock across each other; the store reconnects after its connections are
//! killed, and a commit whose answer was lost is resolved by asking the database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/postgres.rs"]
mod pg;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meterlab_store::{Ack, IngestKey, Payload, Store, StoreConfig, StoreError, Verification};

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
        "3"
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

#[test]
fn a_store_follows_the_appends_of_another_store() {
    let url = pg::fresh_database();
    let (writer, follower) = (open(&url), open(&url));
    assert!(writer.is_shared() && follower.is_shared());
    let mut heads = follower.subscribe();
    let ack = writer
        .ingest_blocking(IngestKey::new("a", "b", 1), result(1), 0)
        .unwrap()
        .ack;
    // Notified (or polled) in the background: the follower's subscribers see the other's append.
    let (seen, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        futures::executor::block_on(async {
            loop {
                let head = *heads.borrow_and_update();
                if head.is_some_and(|h| h.seq >= 1) {
                    let _ = seen.send(head);
                    return;
                }
                if heads.changed().await.is_err() {
                    return;
                }
            }
        })
    });
    let head = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the follower never saw the other store's append");
    assert_eq!(
        head.map(|h| (h.seq, h.hash)),
        Some((ack.global_seq, ack.hash))
    );
    // Read from the database, the head is exact at once.
    let second = writer
        .ingest_blocking(IngestKey::new("a", "b", 2), result(2), 0)
        .unwrap()
        .ack;
    assert_eq!(
        follower.refresh_head().unwrap().map(|h| h.seq),
        Some(second.global_seq)
    );
    assert_eq!(follower.head().map(|h| h.seq), Some(second.global_seq));
}

#[test]
fn the_replica_lock_excludes_other_stores_until_released() {
    let url = pg::fresh_database();
    let (a, b) = (open(&url), open(&url));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let held = runtime
        .block_on(a.lock_replicas(7))
        .unwrap()
        .expect("a shared log has a replica lock");
    let meanwhile = runtime.block_on(async {
        tokio::time::timeout(Duration::from_millis(300), b.lock_replicas(7)).await
    });
    assert!(meanwhile.is_err(), "b took the lock while a held it");
    // Another key is not excluded.
    let other = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), b.lock_replicas(8)).await })
        .expect("another key is free")
        .unwrap();
    drop(other);
    drop(held);
    let after = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), b.lock_replicas(7)).await })
        .expect("the lock is free once released")
        .unwrap();
    assert!(after.is_some());

    let dir = tempfile::tempdir().unwrap();
    let alone = Store::open_sqlite(dir.path().join("lab.db"), StoreConfig::default()).unwrap();
    assert!(!alone.is_shared());
    assert!(runtime.block_on(alone.lock_replicas(7)).unwrap().is_none());
}

const KILL_OTHERS: &str = "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM \
    pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()) AS killed";

/// Ingests with the same key until acknowledged, as a client does after a failure.
fn ingest_until_acked(store: &Store, key: IngestKey, payload: Payload) -> Ack {
    let mut last = None;
    for _ in 0..50 {
        match store.ingest_blocking(key.clone(), payload.clone(), 0) {
            Ok(receipt) => return receipt.ack,
            Err(error) => {
                assert!(!error.is_rejection(), "{error}");
                last = Some(error);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    panic!("{key:?} never acknowledged: {last:?}");
}

#[test]
fn the_store_reconnects_after_its_connections_are_killed_and_loses_nothing_acknowledged() {
    let url = pg::fresh_database();
    ingest_while_killing_connections(&[open(&url)], &url);
}

/// Two stores (whose one-trip batches keep guessing from heads the other moves) under the same
/// connection killing: every acknowledgement stands, one intact chain.
#[test]
fn two_stores_lose_nothing_acknowledged_while_their_connections_are_killed() {
    let url = pg::fresh_database();
    ingest_while_killing_connections(&[open(&url), open(&url)], &url);
}

/// Three streams per store ingest while every other backend of the database is killed every
/// 40 ms; then every acknowledged event is stored once at its acknowledged position, the chain
/// is intact and the watermarks complete.
fn ingest_while_killing_connections(stores: &[Store], url: &str) {
    let database = url.rsplit('/').next().unwrap().to_owned();
    let streams = 3 * stores.len() as u64;
    const EACH: u64 = 40;
    let acked = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let killed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let writers: Vec<_> = (0..streams)
            .map(|t| {
                let (store, acked) = (&stores[t as usize % stores.len()], &acked);
                scope.spawn(move || {
                    for s in 1..=EACH {
                        let key = IngestKey::new("lab", format!("run-{t}"), s);
                        let ack = ingest_until_acked(store, key.clone(), result(s));
                        acked.lock().unwrap().push((key, ack));
                    }
                })
            })
            .collect();
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(40));
                let n: usize = pg::cluster()
                    .query_in(&database, KILL_OTHERS)
                    .trim()
                    .parse()
                    .unwrap();
                killed.fetch_add(n, Ordering::Relaxed);
            }
        });
        for writer in writers {
            writer.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
    });
    assert!(
        killed.load(Ordering::Relaxed) > 0,
        "no connection was killed: the test proved nothing"
    );
    let store = &stores[0];
    // Every acknowledgement stands: the event is stored at the acknowledged position.
    let acked = acked.into_inner().unwrap();
    assert_eq!(acked.len() as u64, streams * EACH);
    for (key, ack) in &acked {
        let stored = store
            .get(key)
            .unwrap()
            .expect("acknowledged event is stored");
        assert_eq!((stored.seq, stored.hash), (ack.global_seq, ack.hash));
    }
    // Stored exactly once (no duplicate appended by a retry), one intact chain.
    match store.verify().unwrap() {
        Verification::Intact { events, .. } => assert_eq!(events, streams * EACH),
        other => panic!("{other:?}"),
    }
    for t in 0..streams {
        assert_eq!(store.watermark("lab", &format!("run-{t}")).unwrap(), EACH);
    }
}

/// A TCP proxy in front of the cluster with two faults to inject:
/// - `armed`: swallow the server's answer to the next `COMMIT` and close both sides (the commit
///   happened, the client never hears so);
/// - [`FaultProxy::end_open_connections`]: every connection open now is closed, unseen by the
///   client, at its next request (as a server restart ends a pool's idle connections).
struct FaultProxy {
    port: u16,
    armed: Arc<AtomicBool>,
    cuts: Arc<AtomicUsize>,
    opened: Arc<AtomicUsize>,
    end_below: Arc<AtomicUsize>,
    ended: Arc<AtomicUsize>,
}

impl FaultProxy {
    fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = FaultProxy {
            port,
            armed: Arc::default(),
            cuts: Arc::default(),
            opened: Arc::default(),
            end_below: Arc::default(),
            ended: Arc::default(),
        };
        let (armed, cuts) = (proxy.armed.clone(), proxy.cuts.clone());
        let (opened, end_below, ended) = (
            proxy.opened.clone(),
            proxy.end_below.clone(),
            proxy.ended.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let id = opened.fetch_add(1, Ordering::SeqCst);
                let server = TcpStream::connect(("127.0.0.1", target)).unwrap();
                let (mut from_client, mut to_server) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (end_below, ended) = (end_below.clone(), ended.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from_client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if id < end_below.load(Ordering::SeqCst) {
                            ended.fetch_add(1, Ordering::SeqCst);
                            let _ = from_client.shutdown(Shutdown::Both);
                            let _ = to_server.shutdown(Shutdown::Both);
                            return;
                        }
                        if to_server.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown(Shutdown::Write);
                });
                let (armed, cuts) = (armed.clone(), cuts.clone());
                std::thread::spawn(move || {
                    let (mut from_server, mut to_client) = (server, client);
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from_server.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let answers_commit =
                            buf[..n].windows(7).any(|w| w == b"COMMIT\0".as_slice());
                        if answers_commit && armed.swap(false, Ordering::SeqCst) {
                            cuts.fetch_add(1, Ordering::SeqCst);
                            let _ = to_client.shutdown(Shutdown::Both);
                            let _ = from_server.shutdown(Shutdown::Both);
                            return;
                        }
                        if to_client.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_client.shutdown(Shutdown::Write);
                });
            }
        });
        proxy
    }

    /// Ends every connection opened so far at its next request; later ones pass.
    fn end_open_connections(&self) -> usize {
        let open = self.opened.load(Ordering::SeqCst);
        self.end_below.store(open, Ordering::SeqCst);
        open
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

fn proxied(url: &str) -> (FaultProxy, String) {
    let database = url.rsplit('/').next().unwrap().to_owned();
    let target: u16 = url
        .rsplit(':')
        .next()
        .and_then(|tail| tail.split('/').next())
        .unwrap()
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(target);
    let url = proxy.url(&database);
    (proxy, url)
}

#[test]
fn reads_on_pooled_connections_the_server_ended_are_answered_from_fresh_ones() {
    let (proxy, url) = proxied(&pg::fresh_database());
    let store = open(&url);
    let key = IngestKey::new("lab", "run", 1);
    let ack = store
        .ingest_blocking(key.clone(), result(1), 0)
        .unwrap()
        .ack;
    // Several pooled connections, each with its prepared statements.
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..20 {
                    store.get(&key).unwrap();
                    store.watermark("lab", "run").unwrap();
                }
            });
        }
    });
    assert!(
        proxy.end_open_connections() >= 2,
        "the pool held one connection"
    );
    let stored = store
        .get(&key)
        .expect("a lookup is answered on a fresh connection")
        .expect("the acknowledged event is stored");
    assert_eq!((stored.seq, stored.hash), (ack.global_seq, ack.hash));
    assert!(
        proxy.ended.load(Ordering::SeqCst) >= 1,
        "no dead connection was met"
    );
    proxy.end_open_connections();
    assert_eq!(store.watermark("lab", "run").unwrap(), 1);
    proxy.end_open_connections();
    match store.verify().unwrap() {
        Verification::Intact { events, .. } => assert_eq!(events, 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_commit_whose_answer_was_lost_is_acknowledged_once_the_database_confirms_it() {
    let (proxy, url) = proxied(&pg::fresh_database());
    let store = open(&url);
    let first = store
        .ingest_blocking(IngestKey::new("lab", "run", 1), result(1), 0)
        .unwrap();
    proxy.armed.store(true, Ordering::SeqCst);
    let in_doubt = store
        .ingest_blocking(IngestKey::new("lab", "run", 2), result(2), 0)
        .expect("the in-doubt commit is resolved as committed");
    assert_eq!(proxy.cuts.load(Ordering::SeqCst), 1, "no answer was cut");
    assert!(!in_doubt.replayed);
    assert_eq!(in_doubt.ack.global_seq, first.ack.global_seq + 1);
    // Stored exactly once: the client's retry is answered as a replay of the same event.
    let retry = store
        .ingest_blocking(IngestKey::new("lab", "run", 2), result(2), 0)
        .unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.ack, in_doubt.ack);
    // A keyless event (no idempotency key to retry with) is resolved the same way.
    proxy.armed.store(true, Ordering::SeqCst);
    let keyless = futures::executor::block_on(store.append(result(3), 0))
        .expect("the in-doubt keyless commit is resolved as committed");
    assert_eq!(proxy.cuts.load(Ordering::SeqCst), 2);
    assert_eq!(keyless.ack.global_seq, in_doubt.ack.global_seq + 1);
    match store.verify().unwrap() {
        Verification::Intact { events, .. } => assert_eq!(events, 3),
        other => panic!("{other:?}"),
    }
}

/// The write path looks up every key of a batch by index, however small the log was when the
/// connection prepared its statements: a plan cached on a small log that scans `events` would
/// cost every later batch a scan of the whole log (it did: 16 ms per batch at 40,000 events).
#[test]
fn ingesting_never_scans_the_log() {
    let url = pg::fresh_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    // The migrations scan the empty table to build its indexes; count from after them.
    close_and_wait(open(&url), &database);
    pg::cluster().psql_in(
        &database,
        "SELECT pg_stat_reset_single_table_counters('events'::regclass)",
    );
    let store = open(&url);
    const BATCHES: u64 = 40;
    const PER_BATCH: u64 = 16;
    for b in 0..BATCHES {
        // Every other batch also repeats a key of the previous one, so the lookup finds rows
        // too; the others are new keys only (one-trip batches, checking the head).
        let replay = b % 2 == 1;
        let events = (1..=PER_BATCH)
            .map(|i| b * PER_BATCH + i)
            .chain(replay.then_some(b * PER_BATCH))
            .map(|seq| meterlab_store::NewEvent {
                key: Some(IngestKey::new("lab", "run", seq)),
                payload: result(seq),
                timestamp_ms: 0,
            })
            .collect();
        let outcomes = store.submit_blocking(events).unwrap();
        assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
        if replay {
            assert!(outcomes.last().unwrap().as_ref().unwrap().replayed);
        }
    }
    assert_eq!(store.watermark("lab", "run").unwrap(), BATCHES * PER_BATCH);
    close_and_wait(store, &database);
    let stats = pg::cluster().query_in(
        &database,
        "SELECT seq_scan, idx_scan FROM pg_stat_user_tables WHERE relname = 'events'",
    );
    let (seq_scans, index_scans) = stats.split_once('|').unwrap();
    let (seq_scans, index_scans): (u64, u64) =
        (seq_scans.parse().unwrap(), index_scans.parse().unwrap());
    assert!(
        index_scans >= BATCHES / 2,
        "the statistics were reported (every other batch probes the key index): {stats}"
    );
    assert_eq!(seq_scans, 0, "the write path scanned the log: {stats}");
}

/// Drops `store` and waits until its connections have ended (a backend reports its table
/// statistics when it exits).
fn close_and_wait(store: Store, database: &str) {
    drop(store);
    let others = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}' \
         AND pid <> pg_backend_pid()"
    );
    // About 20 s.
    for _ in 0..400 {
        if pg::cluster().query_in(database, &others) == "0" {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the store's connections did not close");
}

/// A batch whose chain links were computed from the store's own last commit (one round trip) is
/// never acknowledged from that guess when another store appended meanwhile: the database rolls
/// it back, the writer redoes it, and the acknowledgement is the event's real position.
#[test]
fn a_batch_guessed_from_a_head_another_store_moved_is_redone_not_acknowledged() {
    let url = pg::fresh_database();
    let (a, b) = (open(&url), open(&url));
    let key = |seq| IngestKey::new("lab", "run", seq);
    for seq in 1..=3 {
        a.ingest_blocking(key(seq), result(seq), 0).unwrap();
    }
    // `a` now knows the head (#3) and the run; `b` appends behind its back.
    let other = futures::executor::block_on(b.append(result(100), 0)).unwrap();
    assert_eq!(other.ack.global_seq, 4);
    let fourth = a.ingest_blocking(key(4), result(4), 0).unwrap();
    assert_eq!(
        a.stats().redone,
        1,
        "the guess at #4 was rolled back and redone"
    );
    assert!(!fourth.replayed);
    assert_eq!(fourth.ack.global_seq, 5);
    // `b` stores a key of `a`'s run: `a`'s next batch guesses it is new, and gets a replay.
    let by_b = b.ingest_blocking(key(5), result(5), 0).unwrap();
    let again = a.ingest_blocking(key(5), result(5), 0).unwrap();
    assert_eq!(a.stats().redone, 2);
    assert!(again.replayed);
    assert_eq!(again.ack, by_b.ack);
    // Back on its own, `a` guesses right again: one trip, nothing redone.
    let sixth = a.ingest_blocking(key(6), result(6), 0).unwrap();
    let seventh = a.ingest_blocking(key(7), result(7), 0).unwrap();
    assert_eq!(a.stats().redone, 2);
    assert_eq!(seventh.ack.global_seq, sixth.ack.global_seq + 1);
    let events = a.read_range(1, usize::MAX).unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert_eq!(events[3].payload, result(100));
    assert_eq!(a.watermark("lab", "run").unwrap(), 7);
    assert!(matches!(
        a.verify().unwrap(),
        Verification::Intact { events: 8, .. }
    ));
}

/// A head that moved back under a store (a database restored from a backup while the gateway
/// ran) is caught too: the one-trip batch would otherwise leave a gap in the chain.
#[test]
fn a_batch_guessed_from_a_head_that_moved_back_is_redone() {
    let url = pg::fresh_database();
    let database = url.rsplit('/').next().unwrap().to_owned();
    let store = open(&url);
    let key = |seq| IngestKey::new("lab", "run", seq);
    for seq in 1..=3 {
        store.ingest_blocking(key(seq), result(seq), 0).unwrap();
    }
    // As a restore would: the last event is gone (the append-only triggers are bypassed).
    pg::cluster().psql_in(
        &database,
        "ALTER TABLE events DISABLE TRIGGER USER; DELETE FROM events WHERE seq = 3; \
         UPDATE watermarks SET watermark = 2; ALTER TABLE events ENABLE TRIGGER USER",
    );
    let next = store.ingest_blocking(key(4), result(4), 0).unwrap();
    assert_eq!(store.stats().redone, 1);
    assert_eq!(
        next.ack.global_seq, 3,
        "appended right after the head that is there"
    );
    assert!(matches!(
        store.verify().unwrap(),
        Verification::Intact { events: 3, .. }
    ));
    assert_eq!(
        store.watermark("lab", "run").unwrap(),
        2,
        "key 3 is missing"
    );
}
