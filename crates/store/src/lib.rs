//! Append-only, hash-chained event log with idempotent ingest keyed by `(source, run, seq)`.
//!
//! Must never depend on the server.
#![forbid(unsafe_code)]
