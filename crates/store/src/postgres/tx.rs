//! One write transaction on PostgreSQL, shaped to cost one round trip for a batch of new keys
//! (below) and two otherwise:
//!
//! 1. `BEGIN`, the append lock (`chain_head … FOR UPDATE`), the head, the stored copies of the
//!    batch's idempotency keys and each touched run's watermark (with the keys stored just above
//!    it and its highest key) — pipelined, sent together before the first answer is read;
//! 2. the buffered inserts, the watermark upserts and `COMMIT` — pipelined the same way.
//!
//! Every statement is prepared once per connection and reused. Pipelining keeps the order (the
//! server runs the statements one after the other in the order sent), and every answer is checked:
//! if an insert fails, `COMMIT` of the aborted transaction only rolls back and the error is
//! reported, so nothing is acknowledged that is not stored.
//!
//! One-trip batches: after a commit the backend remembers the head it left and, for each run it
//! wrote whose stored keys it knows completely, the watermark and the keys stored above it
//! ([`Known`]). A batch whose every key is new to such a run needs nothing from the database:
//! its chain links are computed from the remembered head and `BEGIN`, the append lock, a check
//! of the head, the inserts, the watermark upserts and `COMMIT` go out in one pipelined trip.
//! The guess is checked by the database itself: under the lock `meterlab_expect_head` fails
//! unless the head is still the remembered one (another store appended, or a restored database
//! moved it back), and a key stored meanwhile collides on the unique index; the transaction
//! then rolls back, [`StoreError::StaleHead`] tells the writer, the
//! backend forgets what it knew and the batch is redone the two-trip way. Nothing is
//! acknowledged from a guess that did not commit.
//!
//! A connection lost while the commit trip was in flight leaves the outcome in doubt. The
//! transaction then asks the database on a fresh connection, after taking the append lock (which
//! waits until the lost transaction has ended one way or the other), whether the first event it
//! would have appended is stored under its hash: yes means committed (acknowledge), no means
//! not (report the error; nothing was written).

use std::collections::{BTreeSet, HashMap};

use futures::future::try_join_all;
use tokio_postgres::error::SqlState;

use crate::backend::{Checkpoint, WriteTx};
use crate::error::{Result, StoreError};
use crate::event::{ChainHead, IngestKey, NewEvent, StoredEvent};

use super::connection::{
    Conn, EVENT_COLUMNS, HEAD_SQL, Param, Pg, decode_event, decode_head, execute_on, pg_err,
    query_on, to_sql_seq,
};
use super::known::{KNOWN_RUNS, Known, KnownRun};
use super::writes::{
    BEGIN_SQL, LOCK_SQL, insert_events, resolve_commit, upsert_checkpoint, upsert_watermarks,
};

const EXPECT_HEAD_SQL: &str = "SELECT meterlab_expect_head($1, $2)";
/// Raised by `meterlab_expect_head` (migration `V3__expect_head`).
const HEAD_MOVED: &str = "ML001";

/// What the transaction learnt about one run `(source, run)` under the append lock.
#[derive(Debug, Default)]
struct RunState {
    watermark: u64,
    /// Stored keys in `watermark + 1 ..= probed_to` (keys beyond are looked up one by one).
    probed_to: u64,
    stored_above: BTreeSet<u64>,
    /// No key above `probed_to` is stored: `stored_above` is every stored key above the
    /// watermark.
    complete: bool,
}

/// One write transaction holding the append lock. Dropped without commit, it rolls back.
#[derive(Debug)]
pub struct PostgresTx<'a> {
    pg: &'a Pg,
    conn: Conn,
    /// `None` when one-trip batches are off.
    known: Option<&'a mut Known>,
    /// Where the connection goes back when the transaction ends, for the next one.
    spare: &'a mut Option<Conn>,
    begun: bool,
    /// Prepared from [`Known`]: nothing sent yet, everything goes out with the commit.
    one_trip: bool,
    finished: bool,
    committed: bool,
    /// Checkpoints of a one-trip batch, written with the commit.
    checkpoints: Vec<Checkpoint>,
    head: Option<ChainHead>,
    pending: Vec<StoredEvent>,
    pending_keys: HashMap<IngestKey, usize>,
    /// Keys looked up in advance: the stored event, or `None` when the key is not stored.
    stored_keys: HashMap<IngestKey, Option<StoredEvent>>,
    runs: HashMap<(String, String), RunState>,
    dirty_watermarks: Vec<(String, String)>,
}

impl<'a> PostgresTx<'a> {
    pub(super) fn new(
        pg: &'a Pg,
        known: Option<&'a mut Known>,
        spare: &'a mut Option<Conn>,
        conn: Conn,
    ) -> Self {
        PostgresTx {
            pg,
            conn,
            known,
            spare,
            begun: false,
            one_trip: false,
            finished: false,
            committed: false,
            checkpoints: Vec::new(),
            head: None,
            pending: Vec::new(),
            pending_keys: HashMap::new(),
            stored_keys: HashMap::new(),
            runs: HashMap::new(),
            dirty_watermarks: Vec::new(),
        }
    }

    /// Begins, takes the append lock and reads the head (one round trip), unless done already.
    fn ensure_begun(&mut self) -> Result<()> {
        if !self.begun {
            self.prefetch(&[])?;
        }
        Ok(())
    }

    /// Prepares a one-trip batch from [`Known`] when every key of `events` is known to be new;
    /// `false` (nothing changed) when the database has to be asked.
    fn prepare_from_known(&mut self, events: &[NewEvent]) -> bool {
        let Some(known) = self.known.as_deref_mut() else {
            return false;
        };
        if known.paused > 0 {
            known.paused -= 1;
            return false;
        }
        let Some(head) = known.head else {
            return false;
        };
        let mut runs: HashMap<(String, String), RunState> = HashMap::new();
        let mut keys = HashMap::new();
        for key in events.iter().filter_map(|e| e.key.as_ref()) {
            // Keys the limits will refuse are never looked up.
            if key.seq == 0 || i64::try_from(key.seq).is_err() {
                continue;
            }
            let id = (key.source.clone(), key.run.clone());
            let Some(run) = known.runs.get(&id) else {
                return false;
            };
            if key.seq <= run.watermark || run.stored_above.contains(&key.seq) {
                // A replay: its acknowledgement is in the database.
                return false;
            }
            runs.entry(id).or_insert_with(|| RunState {
                watermark: run.watermark,
                probed_to: u64::MAX,
                stored_above: run.stored_above.clone(),
                complete: true,
            });
            keys.insert(key.clone(), None);
        }
        self.head = head;
        self.runs = runs;
        self.stored_keys = keys;
        self.begun = true;
        self.one_trip = true;
        true
    }

    /// A lookup a one-trip batch cannot answer from what it knows: give the guess up (the
    /// writer redoes the batch asking the database).
    fn stale(&mut self) -> StoreError {
        if let Some(known) = self.known.as_deref_mut() {
            known.guessed_wrong();
        }
        StoreError::StaleHead {
            location: self.pg.location.to_string(),
        }
    }

    /// After a commit: remember the head left behind and the runs known completely.
    fn remember(&mut self) {
        let head = match self.pending.last() {
            Some(last) => Some(ChainHead {
                seq: last.seq,
                hash: last.hash,
            }),
            None => self.head,
        };
        let Some(known) = self.known.as_deref_mut() else {
            return;
        };
        known.head = Some(head);
        if known.runs.len() > KNOWN_RUNS {
            known.runs.clear();
        }
        for (id, state) in &self.runs {
            if !state.complete {
                known.runs.remove(id);
                continue;
            }
            let mut stored_above: BTreeSet<u64> = state
                .stored_above
                .iter()
                .copied()
                .filter(|&s| s > state.watermark)
                .collect();
            for event in &self.pending {
                if let Some(key) = &event.key
                    && key.source == id.0
                    && key.run == id.1
                    && key.seq > state.watermark
                {
                    stored_above.insert(key.seq);
                }
            }
            known.runs.insert(
                id.clone(),
                KnownRun {
                    watermark: state.watermark,
                    stored_above,
                },
            );
        }
    }
}

fn qualified_event_columns() -> String {
    EVENT_COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Answers of the first round trip.
struct Prefetched {
    head: Option<ChainHead>,
    stored: Vec<StoredEvent>,
    runs: Vec<FetchedRun>,
}

/// A run as read by the first round trip: its id, watermark, the stored keys just above it and
/// its highest stored key.
type FetchedRun = ((String, String), u64, Vec<i64>, Option<i64>);

impl WriteTx for PostgresTx<'_> {
    fn prefetch(&mut self, events: &[NewEvent]) -> Result<()> {
        if self.begun || self.prepare_from_known(events) {
            return Ok(());
        }
        let mut keys: Vec<IngestKey> = Vec::new();
        let mut spans: HashMap<(String, String), i64> = HashMap::new();
        for key in events.iter().filter_map(|e| e.key.as_ref()) {
            // Keys the limits will refuse are never looked up.
            if key.seq == 0 || i64::try_from(key.seq).is_err() {
                continue;
            }
            if !self.stored_keys.contains_key(key) {
                self.stored_keys.insert(key.clone(), None);
                keys.push(key.clone());
            }
            *spans
                .entry((key.source.clone(), key.run.clone()))
                .or_insert(1) += 1;
        }
        // One index probe per key, whatever the planner believes about the table: the
        // statement is prepared once per connection and its plan cached, often while the log is
        // still small, and a plain join then gets a hash join over a scan of the whole log that
        // stays cached as the log grows (16 ms per batch at 40,000 events, linear in the log).
        // A lateral subquery with LIMIT is never flattened into a join, so the only plans are
        // a nested loop of probes of `events_by_key` (`tests/postgres.rs` checks no scan).
        let key_sql = format!(
            "SELECT {} FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(source, run, \
             source_seq) CROSS JOIN LATERAL (SELECT {EVENT_COLUMNS} FROM events \
             WHERE source = k.source AND run = k.run AND source_seq = k.source_seq LIMIT 1) e",
            qualified_event_columns()
        );
        let key_params = [
            Param::Texts(keys.iter().map(|k| k.source.clone()).collect()),
            Param::Texts(keys.iter().map(|k| k.run.clone()).collect()),
            Param::Ints(keys.iter().map(|k| to_sql_seq(k.seq)).collect()),
        ];
        let run_ids: Vec<(String, String)> = spans.keys().cloned().collect();
        let run_params = [
            Param::Texts(run_ids.iter().map(|(s, _)| s.clone()).collect()),
            Param::Texts(run_ids.iter().map(|(_, r)| r.clone()).collect()),
            Param::Ints(
                run_ids
                    .iter()
                    .map(|id| spans.get(id).copied().unwrap_or(1))
                    .collect(),
            ),
        ];
        let run_sql = "SELECT r.source, r.run, COALESCE(w.watermark, 0), ARRAY(SELECT e.source_seq \
             FROM events e WHERE e.source = r.source AND e.run = r.run \
             AND e.source_seq > COALESCE(w.watermark, 0) \
             AND e.source_seq <= COALESCE(w.watermark, 0) + r.span ORDER BY 1), \
             (SELECT max(e.source_seq) FROM events e WHERE e.source = r.source AND e.run = r.run) \
             FROM unnest($1::text[], $2::text[], $3::bigint[]) AS r(source, run, span) \
             LEFT JOIN watermarks w ON w.source = r.source AND w.run = r.run";
        let with_keys = !keys.is_empty();
        let with_runs = !run_ids.is_empty();
        let fetched = self.pg.on(&self.conn, move |conn, location| async move {
            let op = "begin transaction";
            let mut sqls = vec![LOCK_SQL, HEAD_SQL];
            if with_keys {
                sqls.push(&key_sql);
            }
            if with_runs {
                sqls.push(run_sql);
            }
            // Prepared (or found in the cache) before anything is sent, so the pipeline below
            // goes out in order in one write.
            let statements = try_join_all(sqls.iter().map(|sql| conn.prepare_cached(sql)))
                .await
                .map_err(pg_err(&location, op))?;
            let key_refs: Vec<_> = key_params.iter().map(Param::as_sql).collect();
            let run_refs: Vec<_> = run_params.iter().map(Param::as_sql).collect();
            let begin = conn.batch_execute(BEGIN_SQL);
            let lock = conn.query(&statements[0], &[]);
            let head = conn.query(&statements[1], &[]);
            let stored = async {
                match with_keys {
                    true => conn.query(&statements[2], &key_refs).await.map(Some),
                    false => Ok(None),
                }
            };
            let runs = async {
                match with_runs {
                    true => {
                        let index = if with_keys { 3 } else { 2 };
                        conn.query(&statements[index], &run_refs).await.map(Some)
                    }
                    false => Ok(None),
                }
            };
            let (_, _, head, stored, runs) = futures::try_join!(begin, lock, head, stored, runs)
                .map_err(pg_err(&location, op))?;
            let head = head
                .first()
                .map(|row| decode_head(row, &location))
                .transpose()?;
            let stored = stored
                .unwrap_or_default()
                .iter()
                .map(|row| decode_event(row, &location))
                .collect::<Result<Vec<_>>>()?;
            let mut run_states = Vec::new();
            for row in runs.unwrap_or_default() {
                let malformed = |e: tokio_postgres::Error| StoreError::MalformedRow {
                    location: location.to_string(),
                    seq: 0,
                    detail: format!("watermark row: {e}"),
                };
                let source: String = row.try_get(0).map_err(malformed)?;
                let run: String = row.try_get(1).map_err(malformed)?;
                let watermark: i64 = row.try_get(2).map_err(malformed)?;
                let above: Vec<i64> = row.try_get(3).map_err(malformed)?;
                let highest: Option<i64> = row.try_get(4).map_err(malformed)?;
                run_states.push((
                    (source, run),
                    u64::try_from(watermark).unwrap_or(0),
                    above,
                    highest,
                ));
            }
            Ok(Prefetched {
                head,
                stored,
                runs: run_states,
            })
        });
        // Whatever happened, the connection may be inside a transaction now: Drop rolls back.
        self.begun = true;
        let fetched = fetched?;
        self.head = fetched.head;
        if let Some(known) = self.known.as_deref_mut()
            && known.head != Some(fetched.head)
        {
            // Another store appended since this one's last commit: what it knew may be stale.
            known.forget();
        }
        for event in fetched.stored {
            if let Some(key) = event.key.clone() {
                self.stored_keys.insert(key, Some(event));
            }
        }
        for (id, watermark, above, highest) in fetched.runs {
            let span = spans.get(&id).copied().unwrap_or(1);
            let probed_to = watermark.saturating_add(u64::try_from(span).unwrap_or(0));
            self.runs.insert(
                id,
                RunState {
                    watermark,
                    probed_to,
                    stored_above: above
                        .into_iter()
                        .filter_map(|s| u64::try_from(s).ok())
                        .collect(),
                    complete: highest
                        .is_none_or(|h| u64::try_from(h).is_ok_and(|h| h <= probed_to)),
                },
            );
        }
        Ok(())
    }

    fn head(&mut self) -> Result<Option<ChainHead>> {
        self.ensure_begun()?;
        Ok(match self.pending.last() {
            Some(last) => Some(ChainHead {
                seq: last.seq,
                hash: last.hash,
            }),
            None => self.head,
        })
    }

    fn get_by_key(&mut self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        self.ensure_begun()?;
        if let Some(&index) = self.pending_keys.get(key) {
            return Ok(self.pending.get(index).cloned());
        }
        if let Some(known) = self.stored_keys.get(key) {
            return Ok(known.clone());
        }
        if self.one_trip {
            return Err(self.stale());
        }
        let key = key.clone();
        self.pg.on(&self.conn, move |conn, location| async move {
            super::connection::get_by_key_on(&conn, &location, &key).await
        })
    }

    fn key_exists(&mut self, source: &str, run: &str, seq: u64) -> Result<bool> {
        self.ensure_begun()?;
        let Ok(sql_seq) = i64::try_from(seq) else {
            return Ok(false);
        };
        if self
            .pending_keys
            .contains_key(&IngestKey::new(source, run, seq))
        {
            return Ok(true);
        }
        if let Some(state) = self.runs.get(&(source.to_owned(), run.to_owned())) {
            if seq <= state.watermark {
                return Ok(true);
            }
            if seq <= state.probed_to {
                return Ok(state.stored_above.contains(&seq));
            }
        }
        if self.one_trip {
            return Err(self.stale());
        }
        let params = vec![
            Param::Text(source.into()),
            Param::Text(run.into()),
            Param::Int(sql_seq),
        ];
        let rows = self.pg.on(&self.conn, move |conn, location| async move {
            query_on(
                &conn,
                &location,
                "look up ingest key",
                "SELECT 1 FROM events WHERE source = $1 AND run = $2 AND source_seq = $3",
                &params,
            )
            .await
        })?;
        Ok(!rows.is_empty())
    }

    fn insert(&mut self, event: &StoredEvent) -> Result<()> {
        self.ensure_begun()?;
        if let Some(key) = &event.key {
            self.pending_keys.insert(key.clone(), self.pending.len());
        }
        self.pending.push(event.clone());
        Ok(())
    }

    fn watermark(&mut self, source: &str, run: &str) -> Result<u64> {
        self.ensure_begun()?;
        let id = (source.to_owned(), run.to_owned());
        if let Some(state) = self.runs.get(&id) {
            return Ok(state.watermark);
        }
        if self.one_trip {
            return Err(self.stale());
        }
        let (s, r) = id.clone();
        let watermark = self.pg.on(&self.conn, move |conn, location| async move {
            super::connection::watermark_on(&conn, &location, &s, &r).await
        })?;
        self.runs.insert(
            id,
            RunState {
                watermark,
                probed_to: watermark,
                stored_above: BTreeSet::new(),
                complete: false,
            },
        );
        Ok(watermark)
    }

    fn set_watermark(&mut self, source: &str, run: &str, watermark: u64) -> Result<()> {
        self.ensure_begun()?;
        let id = (source.to_owned(), run.to_owned());
        if !self.dirty_watermarks.contains(&id) {
            self.dirty_watermarks.push(id.clone());
        }
        self.runs.entry(id).or_default().watermark = watermark;
        Ok(())
    }

    fn put_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        self.ensure_begun()?;
        if self.one_trip {
            self.checkpoints.push(checkpoint.clone());
            return Ok(());
        }
        let (op, sql, params) = upsert_checkpoint(checkpoint);
        self.pg.on(&self.conn, move |conn, location| async move {
            execute_on(&conn, &location, op, &sql, &params).await
        })?;
        Ok(())
    }

    fn commit(mut self) -> Result<()> {
        self.ensure_begun()?;
        let mut statements = Vec::new();
        if !self.pending.is_empty() {
            statements.push(insert_events(&self.pending));
        }
        if !self.dirty_watermarks.is_empty() {
            let marks = self
                .dirty_watermarks
                .iter()
                .map(|id| (id, self.runs.get(id).map_or(0, |state| state.watermark)));
            statements.push(upsert_watermarks(marks));
        }
        statements.extend(self.checkpoints.iter().map(upsert_checkpoint));
        let one_trip = std::mem::take(&mut self.one_trip);
        if one_trip && statements.is_empty() {
            // Nothing to write and no transaction was opened.
            self.finished = true;
            self.committed = true;
            return Ok(());
        }
        let expected = [
            Param::OptInt(self.head.map(|h| to_sql_seq(h.seq))),
            Param::OptBytes(self.head.map(|h| h.hash.to_vec())),
        ];
        let result = self.pg.on(&self.conn, move |conn, location| async move {
            let lock = match one_trip {
                true => Some(
                    try_join_all([LOCK_SQL, EXPECT_HEAD_SQL].map(|sql| conn.prepare_cached(sql)))
                        .await
                        .map_err(pg_err(&location, "prepare commit"))?,
                ),
                false => None,
            };
            let prepared = try_join_all(
                statements
                    .iter()
                    .map(|(_, sql, _)| conn.prepare_cached(sql)),
            )
            .await
            .map_err(pg_err(&location, "prepare commit"))?;
            let refs: Vec<Vec<_>> = statements
                .iter()
                .map(|(_, _, params)| params.iter().map(Param::as_sql).collect())
                .collect();
            let client: &tokio_postgres::Client = &conn;
            let expected: Vec<_> = expected.iter().map(Param::as_sql).collect();
            // A one-trip batch opens its transaction and takes the append lock in the same
            // write as everything else.
            let opening = async {
                if let Some(statements) = &lock {
                    let (begun, locked, checked) = futures::join!(
                        client.batch_execute(BEGIN_SQL),
                        client.query(&statements[0], &[]),
                        client.query(&statements[1], &expected),
                    );
                    begun.map_err(pg_err(&location, "begin transaction"))?;
                    locked.map_err(pg_err(&location, "take the append lock"))?;
                    if let Err(error) = checked {
                        if error.code().is_some_and(|code| code.code() == HEAD_MOVED) {
                            // Rolled back by the COMMIT behind it.
                            return Err(StoreError::StaleHead {
                                location: location.to_string(),
                            });
                        }
                        return Err(StoreError::postgres(&location, "check the head", error));
                    }
                }
                Ok::<_, StoreError>(())
            };
            let writes = prepared.iter().zip(&refs).zip(&statements).map(
                |((statement, refs), (op, _, _))| async move {
                    client.execute(statement, refs).await.map_err(|e| (*op, e))
                },
            );
            // Sent in order in one write: (BEGIN, the lock,) the inserts, the upserts, COMMIT.
            let (opened, written, committed) = futures::join!(
                opening,
                futures::future::join_all(writes),
                conn.batch_execute("COMMIT")
            );
            opened?;
            for outcome in written {
                if let Err((op, error)) = outcome {
                    let collided = error.code() == Some(&SqlState::UNIQUE_VIOLATION);
                    if one_trip && collided {
                        // Rolled back by the COMMIT behind it: the guessed head or a guessed-new
                        // key was taken by another store.
                        return Err(StoreError::StaleHead {
                            location: location.to_string(),
                        });
                    }
                    return Err(StoreError::postgres(&location, op, error));
                }
            }
            // synchronous_commit = on: COMMIT returned after the server flushed the WAL record.
            committed.map_err(pg_err(&location, "commit"))
        });
        match result {
            Ok(()) => {
                self.finished = true;
                self.committed = true;
                if one_trip && let Some(known) = self.known.as_deref_mut() {
                    known.guessed_right();
                }
                self.remember();
                Ok(())
            }
            Err(error @ StoreError::StaleHead { .. }) => {
                if let Some(known) = self.known.as_deref_mut() {
                    known.guessed_wrong();
                }
                Err(error)
            }
            Err(error) if error.is_lost_connection() && !self.pending.is_empty() => {
                // The connection is gone; there is nothing to roll back on it.
                self.finished = true;
                let first = &self.pending[0];
                tracing::warn!(location = %self.pg.location, %error, first_seq = first.seq,
                    "connection lost during commit; asking the database whether it committed");
                match resolve_commit(self.pg, first.seq, first.hash) {
                    Ok(true) => {
                        tracing::info!(location = %self.pg.location, first_seq = first.seq,
                            "the in-doubt commit had committed");
                        Ok(())
                    }
                    Ok(false) => Err(error),
                    Err(unresolved) => {
                        tracing::error!(location = %self.pg.location, error = %unresolved,
                            "the in-doubt commit could not be resolved");
                        Err(StoreError::InDoubt {
                            location: self.pg.location.to_string(),
                            first_seq: first.seq,
                        })
                    }
                }
            }
            Err(error) => Err(error),
        }
    }
}

impl Drop for PostgresTx<'_> {
    fn drop(&mut self) {
        if !self.committed
            && let Some(known) = self.known.as_deref_mut()
        {
            // A batch that did not commit (or whose outcome was settled the slow way) leaves
            // nothing this backend can build the next one-trip batch on.
            known.forget();
        }
        if self.begun
            && !self.one_trip
            && !self.finished
            && let Err(e) = self.pg.on(&self.conn, |conn, location| async move {
                conn.batch_execute("ROLLBACK")
                    .await
                    .map_err(pg_err(&location, "roll back"))
            })
        {
            tracing::error!(location = %self.pg.location, error = %e, "rollback failed");
        }
        // Ended one way or the other (committed, rolled back, or lost: then closed and not
        // kept).
        if !self.conn.is_closed() {
            *self.spare = Some(self.conn.clone());
        }
    }
}
