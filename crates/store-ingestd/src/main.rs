//! `meterlab-store-ingestd`: a minimal storing process over stdin/stdout, used by the crash tests
//! and handy for poking at a store by hand.
//!
//! Usage: `meterlab-store-ingestd <store.db> [--max-in-flight N]`
//!
//! Reads JSON lines from stdin; each ingest line is submitted concurrently (so the store
//! group-commits them) and its acknowledgement is printed only once the store has made it durable:
//!
//! ```text
//! in : {"source":"s","run":"r","seq":1,"kind":"case_result","body":"...","ts":1700000000000}
//! out: {"ack":{"source":"s","run":"r","seq":1},"global_seq":7,"hash":"<hex>","replayed":false}
//! out: {"rejected":{"source":"s","run":"r","seq":1},"error":"...","conflict":true}
//! in : {"op":"watermark","source":"s","run":"r"}   out: {"watermark":3,"source":"s","run":"r"}
//! in : {"op":"verify"}                             out: {"verify":"intact","events":9}
//! ```
//!
//! On start it prints `{"ready":true,"head":N}`. At end of input it waits for every pending ack.
//!
//! A binary package of its own so that `anyhow`, `serde_json` and `tracing-subscriber` stay out of
//! `meterlab-store`'s dependencies; nothing may depend on it.
#![forbid(unsafe_code)]

use std::sync::Arc;

use anyhow::{Context, bail};
use meterlab_store::{IngestKey, Payload, Store, StoreConfig, StoreError, Verification};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        bail!("usage: meterlab-store-ingestd <store.db> [--max-in-flight N]");
    };
    let mut max_in_flight = 256usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--max-in-flight" => {
                let value = args.next().context("--max-in-flight needs a value")?;
                max_in_flight = value
                    .parse()
                    .with_context(|| format!("--max-in-flight: not a number: {value:?}"))?;
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    let store = Store::open_sqlite(&path, StoreConfig::default())
        .with_context(|| format!("opening store {path}"))?;

    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Value>();
    let printer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = out_rx.recv().await {
            let mut text = line.to_string();
            text.push('\n');
            stdout.write_all(text.as_bytes()).await?;
            stdout.flush().await?;
        }
        anyhow::Ok(())
    });
    let head = store.head().map_or(0, |h| h.seq);
    out_tx.send(json!({"ready": true, "head": head}))?;

    let in_flight = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let mut pending = tokio::task::JoinSet::new();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut line_no = 0u64;
    while let Some(line) = lines.next_line().await.context("reading stdin")? {
        line_no += 1;
        if line.trim().is_empty() {
            continue;
        }
        let request: Value = serde_json::from_str(&line)
            .with_context(|| format!("stdin line {line_no}: not JSON: {line:?}"))?;
        match request.get("op").and_then(Value::as_str) {
            None => {
                let (key, payload, ts) = parse_ingest(&request)
                    .with_context(|| format!("stdin line {line_no}: bad ingest request"))?;
                let permit = Arc::clone(&in_flight).acquire_owned().await?;
                let store = store.clone();
                let out = out_tx.clone();
                pending.spawn(async move {
                    let key_json = json!({"source": key.source, "run": key.run, "seq": key.seq});
                    let line = match store.ingest(key, payload, ts).await {
                        Ok(receipt) => json!({
                            "ack": key_json,
                            "global_seq": receipt.ack.global_seq,
                            "hash": hex::encode(receipt.ack.hash),
                            "replayed": receipt.replayed,
                        }),
                        Err(e) => json!({
                            "rejected": key_json,
                            "error": e.to_string(),
                            "conflict": matches!(e, StoreError::Conflict { .. }),
                        }),
                    };
                    drop(permit);
                    let _ = out.send(line);
                });
            }
            Some("watermark") => {
                let source = str_field(&request, "source")?;
                let run = str_field(&request, "run")?;
                let watermark = store.watermark(source, run)?;
                out_tx.send(json!({"watermark": watermark, "source": source, "run": run}))?;
            }
            Some("verify") => {
                let line = match store.verify()? {
                    Verification::Intact { events, .. } => {
                        json!({"verify": "intact", "events": events})
                    }
                    Verification::Broken { seq, reason } => {
                        json!({"verify": "broken", "seq": seq, "reason": reason})
                    }
                };
                out_tx.send(line)?;
            }
            Some(other) => bail!("stdin line {line_no}: unknown op {other:?}"),
        }
    }
    while pending.join_next().await.is_some() {}
    drop(out_tx);
    printer.await??;
    Ok(())
}

fn parse_ingest(request: &Value) -> anyhow::Result<(IngestKey, Payload, i64)> {
    let source = str_field(request, "source")?;
    let run = str_field(request, "run")?;
    let seq = request
        .get("seq")
        .and_then(Value::as_u64)
        .context("missing or non-integer \"seq\"")?;
    let kind = str_field(request, "kind")?;
    let body = str_field(request, "body")?;
    let ts = request
        .get("ts")
        .and_then(Value::as_i64)
        .context("missing or non-integer \"ts\"")?;
    Ok((
        IngestKey::new(source, run, seq),
        Payload::new(kind, body.as_bytes().to_vec()),
        ts,
    ))
}

fn str_field<'a>(request: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    request
        .get(name)
        .and_then(Value::as_str)
        .with_context(|| format!("missing or non-string {name:?}"))
}

/// Logs go to stderr so stdout stays a clean stream of JSON lines.
fn tracing_subscriber_init() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}
