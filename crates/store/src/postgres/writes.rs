//! The statements of a write transaction's commit trip, and the resolution of a commit whose
//! connection was lost while it was in flight (see [`super::tx`]).

use std::time::Duration;

use crate::backend::Checkpoint;
use crate::error::{Result, StoreError};
use crate::event::StoredEvent;

use super::connection::{EVENT_COLUMNS, Param, Pg, pg_err, query_on, to_sql_seq};

/// The append lock: every write transaction takes it first.
pub(super) const LOCK_SQL: &str = "SELECT id FROM chain_head WHERE id = 1 FOR UPDATE";
pub(super) const BEGIN_SQL: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";

/// Attempts (about 0.5 s apart) to reach the database after a lost commit, e.g. while it
/// restarts.
const RESOLVE_ATTEMPTS: u32 = 40;
const RESOLVE_PAUSE: Duration = Duration::from_millis(500);

/// Whether the event the lost commit would have stored at `seq` is stored with `hash`. The
/// append lock is taken first, so a lost transaction still running on the server has ended.
pub(super) fn resolve_commit(pg: &Pg, seq: u64, hash: crate::event::Hash) -> Result<bool> {
    let pool_pg = pg.clone();
    let mut last_error = None;
    for attempt in 0..RESOLVE_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(RESOLVE_PAUSE);
        }
        let outcome = pool_pg.with_conn(
            "resolve an in-doubt commit",
            move |conn, location| async move {
                let op = "resolve an in-doubt commit";
                conn.batch_execute(BEGIN_SQL)
                    .await
                    .map_err(pg_err(&location, op))?;
                let locked = query_on(&conn, &location, op, LOCK_SQL, &[]).await;
                let rows = match locked {
                    Ok(_) => {
                        query_on(
                            &conn,
                            &location,
                            op,
                            "SELECT hash FROM events WHERE seq = $1",
                            &[Param::Int(to_sql_seq(seq))],
                        )
                        .await
                    }
                    Err(e) => Err(e),
                };
                let ended = conn.batch_execute("ROLLBACK").await;
                let rows = rows?;
                ended.map_err(pg_err(&location, op))?;
                Ok(rows
                    .first()
                    .and_then(|row| row.try_get::<_, Vec<u8>>(0).ok())
                    .is_some_and(|stored| stored == hash))
            },
        );
        match outcome {
            Ok(committed) => return Ok(committed),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| StoreError::Unavailable {
        location: pg.location.to_string(),
        op: "resolve an in-doubt commit",
        detail: "no attempt made".into(),
    }))
}

pub(super) fn insert_events(events: &[StoredEvent]) -> (&'static str, String, Vec<Param>) {
    let mut seqs = Vec::with_capacity(events.len());
    let mut timestamps = Vec::with_capacity(events.len());
    let mut kinds = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    let mut sources = Vec::with_capacity(events.len());
    let mut runs = Vec::with_capacity(events.len());
    let mut source_seqs = Vec::with_capacity(events.len());
    let mut hashes = Vec::with_capacity(events.len());
    for event in events {
        seqs.push(to_sql_seq(event.seq));
        timestamps.push(event.timestamp_ms);
        kinds.push(event.payload.kind.clone());
        bodies.push(event.payload.body.clone());
        sources.push(event.key.as_ref().map(|k| k.source.clone()));
        runs.push(event.key.as_ref().map(|k| k.run.clone()));
        source_seqs.push(event.key.as_ref().map(|k| to_sql_seq(k.seq)));
        hashes.push(event.hash.to_vec());
    }
    (
        "insert events",
        format!(
            "INSERT INTO events ({EVENT_COLUMNS}) SELECT * FROM unnest($1::bigint[], \
             $2::bigint[], $3::text[], $4::bytea[], $5::text[], $6::text[], $7::bigint[], \
             $8::bytea[])"
        ),
        vec![
            Param::Ints(seqs),
            Param::Ints(timestamps),
            Param::Texts(kinds),
            Param::ByteArrays(bodies),
            Param::OptTexts(sources),
            Param::OptTexts(runs),
            Param::OptInts(source_seqs),
            Param::ByteArrays(hashes),
        ],
    )
}

pub(super) fn upsert_checkpoint(checkpoint: &Checkpoint) -> (&'static str, String, Vec<Param>) {
    (
        "record checkpoint",
        "INSERT INTO checkpoints (projection, seq, fingerprint) VALUES ($1, $2, $3) \
         ON CONFLICT (projection) DO UPDATE SET seq = excluded.seq, \
         fingerprint = excluded.fingerprint"
            .into(),
        vec![
            Param::Text(checkpoint.projection.clone()),
            Param::Int(to_sql_seq(checkpoint.seq)),
            Param::Bytes(checkpoint.fingerprint.to_vec()),
        ],
    )
}

pub(super) fn upsert_watermarks<'a>(
    marks: impl Iterator<Item = (&'a (String, String), u64)>,
) -> (&'static str, String, Vec<Param>) {
    let (mut sources, mut run_names, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for ((source, run), watermark) in marks {
        sources.push(source.clone());
        run_names.push(run.clone());
        values.push(to_sql_seq(watermark));
    }
    (
        "update watermarks",
        "INSERT INTO watermarks (source, run, watermark) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
         ON CONFLICT (source, run) DO UPDATE SET watermark = excluded.watermark"
            .into(),
        vec![
            Param::Texts(sources),
            Param::Texts(run_names),
            Param::Ints(values),
        ],
    )
}
