//! The direct-insert baseline of the PostgreSQL ingest benches (this crate's `postgres_ingest`
//! and meterlab-server's `ingest_grpc_postgres`, which includes this file): the same row shape
//! and unique key index as the store, `synchronous_commit = on`, one `BEGIN; INSERT; COMMIT` per
//! row over one connection per submitter.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// One connection per submitter to `url`, after creating the baseline's table there.
pub async fn connect(url: &str, submitters: u64) -> Vec<Arc<tokio_postgres::Client>> {
    let setup = client(url).await;
    setup
        .batch_execute(
            "CREATE TABLE events (seq BIGINT PRIMARY KEY, ts_ms BIGINT NOT NULL,
                kind TEXT NOT NULL, body BYTEA NOT NULL, source TEXT, run TEXT,
                source_seq BIGINT, hash BYTEA NOT NULL);
             CREATE UNIQUE INDEX events_by_key ON events(source, run, source_seq);",
        )
        .await
        .unwrap();
    let mut clients = Vec::new();
    for _ in 0..submitters {
        clients.push(Arc::new(client(url).await));
    }
    clients
}

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("SET synchronous_commit = on")
        .await
        .unwrap();
    client
}

/// Inserts `rows` rows with `body`, split evenly over `clients`, one transaction per row;
/// `next` numbers them across iterations.
pub async fn insert_rows(
    clients: &[Arc<tokio_postgres::Client>],
    next: &Arc<AtomicU64>,
    rows: u64,
    body: &[u8],
) {
    let per_client = rows / clients.len() as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for client in clients {
        let (client, next, body) = (client.clone(), next.clone(), body.to_vec());
        tasks.spawn(async move {
            for _ in 0..per_client {
                let seq = next.fetch_add(1, Ordering::Relaxed) as i64 + 1;
                client.batch_execute("BEGIN").await.unwrap();
                client
                    .execute(
                        "INSERT INTO events (seq, ts_ms, kind, body, source, run, source_seq, \
                         hash) VALUES ($1, $1, 'case_result', $2, 'bench', 'run', $1, $3)",
                        &[&seq, &body, &&[0u8; 32][..]],
                    )
                    .await
                    .unwrap();
                client.batch_execute("COMMIT").await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}
