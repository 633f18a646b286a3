//! The ledger: the store plus the live governance projection, kept in log order.
//!
//! Writes are durable first, projected second: an event is appended to the store, and once the
//! store has acknowledged it the projection catches up from its cursor, in log order and checking
//! the chain — from the store's memory of its own last commits, reading the log for other
//! replicas' events — so the live projection always equals a replay of the log prefix it has
//! seen (the same order, hence the same state, as the rebuild on the next start).
//!
//! Events are validated against the projection before they are written, because a log must not
//! hold events its projection refuses:
//! - governance writes are serialised by a write gate and trial-applied to a copy of the state
//!   (caught up with the log first);
//! - results (many concurrent streams, group-committed) are checked without the gate: their
//!   validity only depends on the phase existing (phases are never removed) and on the attempt not
//!   being recorded yet, which a reservation table guarantees while the write is in flight.
//!
//! The reservation table is shared by both paths: a governance write that carries results (a
//! regression run recorded with its results) reserves their attempts before it is submitted and
//! is refused if a result stream holds one, and a result stream is refused an attempt that a
//! governance write holds. So when the same attempt arrives both ways at once, the second is
//! answered ALREADY_EXISTS (or a rejection on the stream) before anything is appended, and the
//! log holds exactly one copy. Reservations end once the event is projected (or failed to store).
//!
//! A governance event can also depend on the results of a case (a de-scope needs its cited case
//! to have passed; see `Event::result_dependencies`). Such a write holds those cases: results for
//! them that reach the store after the hold wait (they are not refused) until the write is
//! projected or failed, and the write waits for the results already on their way to the store to
//! be projected before it checks its events. The waits have one order — a write holds its cases
//! first, then waits for results admitted before the hold, which never wait for anything but the
//! store — so they cannot deadlock, and no lock is held across an await.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use meterlab_governance::event::{CaseRef, CaseResult};
use meterlab_governance::model::{CaseId, PhaseId};
use meterlab_governance::{DomainError, Event, Profile, Projection};
use meterlab_store::{
    Ack, Checkpoint, IngestKey, NewEvent, Payload, Projector, ReplayCursor, ReplayReport, Store,
    StoreError,
};

use crate::error::{AttemptInFlight, LedgerError};
use crate::projector::{GOVERNANCE_KIND, GovernanceProjector, PROJECTION_NAME};

/// The cross-replica lock key of governance writes ("metergov" in ASCII).
const GOVERNANCE_WRITE_LOCK: i64 = 0x6D65_7465_7267_6F76;

/// An attempt is identified by its phase, case, device and number.
type AttemptKey = (PhaseId, CaseId, String, u32);

/// Who is writing an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Holder {
    /// A result stream, under its idempotency key.
    Stream(IngestKey),
    /// The governance write in progress (there is at most one: they are serialised).
    Governance,
}

struct Live {
    projector: GovernanceProjector,
    cursor: ReplayCursor,
    /// Attempts being written and not projected yet, with their writer.
    reservations: HashMap<AttemptKey, Holder>,
    /// Cases with results on their way to the store or a governance write depending on them.
    cases: HashMap<CaseRef, CaseTraffic>,
    /// Who is waiting for whom right now (see [`Ledger::waits`]).
    waits: LedgerWaits,
}

/// Results and governance writes waiting for each other on a case right now: the two
/// interleavings the case hold exists for, observable so tests can force them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerWaits {
    /// Results waiting for a governance write that depends on their case to finish.
    pub results: usize,
    /// Governance writes waiting for results already admitted on a case they depend on.
    pub governance_writes: usize,
}

/// Counts one waiter in [`Live::waits`] while alive (however the wait ends, cancellation too).
struct Waiting<'a> {
    ledger: &'a Ledger,
    count: fn(&mut LedgerWaits) -> &mut usize,
}

impl<'a> Waiting<'a> {
    fn start(ledger: &'a Ledger, count: fn(&mut LedgerWaits) -> &mut usize) -> Self {
        *count(&mut ledger.live().waits) += 1;
        Self { ledger, count }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut live = self.ledger.live();
        let n = (self.count)(&mut live.waits);
        *n = n.saturating_sub(1);
    }
}

/// Who is using a case's results right now.
#[derive(Debug, Default)]
struct CaseTraffic {
    /// Results admitted to the store and not projected (or failed) yet.
    results: usize,
    /// The governance write in progress depends on the case's results.
    held: bool,
}

impl CaseTraffic {
    fn idle(&self) -> bool {
        self.results == 0 && !self.held
    }
}

/// A governance event the rules refuse, with the state it was checked against.
#[derive(Debug)]
pub struct RuleRefusal {
    pub error: DomainError,
    /// The projection the event was refused by (so an answer can explain it from that state).
    pub state: Box<Projection>,
}

/// Why governance events were not written.
enum AppendRefusal {
    Rule(RuleRefusal),
    Other(LedgerError),
}

/// A result admitted to the store: its case counts it until it is dropped (projected or failed,
/// or the stream went away).
#[derive(Debug)]
pub struct AdmittedResult<'a> {
    ledger: &'a Ledger,
    case: CaseRef,
}

impl Drop for AdmittedResult<'_> {
    fn drop(&mut self) {
        {
            let mut live = self.ledger.live();
            if let Some(traffic) = live.cases.get_mut(&self.case) {
                traffic.results = traffic.results.saturating_sub(1);
                if traffic.idle() {
                    live.cases.remove(&self.case);
                }
            }
        }
        self.ledger.case_traffic.notify_waiters();
    }
}

/// The cases a governance write holds; released when dropped, however the write ended.
struct CaseHold<'a> {
    ledger: &'a Ledger,
    cases: Vec<CaseRef>,
}

impl Drop for CaseHold<'_> {
    fn drop(&mut self) {
        if self.cases.is_empty() {
            return;
        }
        {
            let mut live = self.ledger.live();
            for case in &self.cases {
                if let Some(traffic) = live.cases.get_mut(case) {
                    traffic.held = false;
                    if traffic.idle() {
                        live.cases.remove(case);
                    }
                }
            }
        }
        self.ledger.case_traffic.notify_waiters();
    }
}

/// Why a result cannot be accepted by governance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultRefusal {
    /// The phase is not registered.
    UnknownPhase(String),
    /// The attempt is already recorded (or being recorded) under another key.
    DuplicateAttempt(String),
}

fn attempt_key(r: &CaseResult) -> AttemptKey {
    (r.phase.clone(), r.case.clone(), r.device.clone(), r.attempt)
}

/// The attempts a governance write reserved; released when dropped, however the write ended.
struct GovernanceReservation<'a> {
    ledger: &'a Ledger,
    attempts: Vec<AttemptKey>,
}

impl Drop for GovernanceReservation<'_> {
    fn drop(&mut self) {
        if self.attempts.is_empty() {
            return;
        }
        let mut live = self.ledger.live();
        for attempt in &self.attempts {
            if live.reservations.get(attempt) == Some(&Holder::Governance) {
                live.reservations.remove(attempt);
            }
        }
    }
}

/// Store + live projection + rule profile. Shared by every service.
pub struct Ledger {
    store: Store,
    profile: Arc<Profile>,
    live: Mutex<Live>,
    gate: tokio::sync::Mutex<()>,
    /// Woken whenever a case's traffic decreases (a result projected, a hold released).
    case_traffic: tokio::sync::Notify,
    /// A lab gateway's phases live upstream: a result for a phase this log does not hold is
    /// accepted here and checked by the upstream when forwarded.
    phases_upstream: AtomicBool,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("store", &self.store)
            .field("profile", &self.profile.name)
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the Unix epoch by the system clock: the recorded time of an event (a
/// record of when, not a timer).
#[allow(
    clippy::disallowed_methods,
    reason = "the service edge stamps when an event was recorded"
)]
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Ledger {
    /// Rebuilds the projection from the whole log (verifying the hash chain and the last recorded
    /// checkpoint) and records a new checkpoint. Blocking: run it on a blocking thread.
    pub fn open(store: Store, profile: Profile) -> Result<(Ledger, ReplayReport), StoreError> {
        let mut projector = GovernanceProjector::new();
        let (report, cursor) = store.rebuild_projection(&mut projector)?;
        if projector.refused_count() > 0 {
            tracing::warn!(
                refused = projector.refused_count(),
                "the governance projection refuses some stored events (kept in the log, not applied)"
            );
        }
        let ledger = Ledger {
            store,
            profile: Arc::new(profile),
            live: Mutex::new(Live {
                projector,
                cursor,
                reservations: HashMap::new(),
                waits: LedgerWaits::default(),
                cases: HashMap::new(),
            }),
            gate: tokio::sync::Mutex::new(()),
            case_traffic: tokio::sync::Notify::new(),
            phases_upstream: AtomicBool::new(false),
        };
        Ok((ledger, report))
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Ledger::read`] with the attributed decisions projected so far.
    pub fn read_attributed<T>(
        &self,
        f: impl FnOnce(&Projection, &[crate::projector::Decision], u64) -> T,
    ) -> T {
        let live = self.live();
        let at = live.cursor.head().map_or(0, |h| h.seq);
        f(live.projector.projection(), live.projector.decisions(), at)
    }

    /// Runs `f` on the current projection and the log position it reflects.
    pub fn read<T>(&self, f: impl FnOnce(&Projection, u64) -> T) -> T {
        let live = self.live();
        let at = live.cursor.head().map_or(0, |h| h.seq);
        f(live.projector.projection(), at)
    }

    /// The log position the projection has reached (the last event applied; 0 before the first).
    pub fn position(&self) -> u64 {
        self.live().cursor.head().map_or(0, |h| h.seq)
    }

    /// Brings the projection up to the log's committed head as of now — on a shared log
    /// (replicas on PostgreSQL) that includes every other replica's acknowledged writes — and
    /// returns the position reached. Blocking (it reads the database): use a blocking thread.
    pub fn sync(&self) -> Result<u64, StoreError> {
        let head = self.store.refresh_head()?.map_or(0, |h| h.seq);
        self.catch_up_to(head)?;
        Ok(self.position())
    }

    /// Brings the projection up to at least log position `seq`. Blocking when it must read the
    /// log (events of other replicas, or older than the store keeps in memory): from async code
    /// use [`Ledger::project_up_to`].
    pub fn catch_up_to(&self, seq: u64) -> Result<(), StoreError> {
        let mut live = self.live();
        if live.cursor.head().map_or(0, |h| h.seq) >= seq {
            return Ok(());
        }
        let Live {
            projector, cursor, ..
        } = &mut *live;
        self.store.catch_up_to(projector, cursor, seq)?;
        Ok(())
    }

    /// [`Ledger::catch_up_to`] for async code: the store's own commits are applied from memory
    /// on the spot; only a catch-up that must read the log goes to a blocking thread.
    pub async fn project_up_to(self: &Arc<Self>, seq: u64) -> Result<(), StoreError> {
        {
            let mut live = self.live();
            let Live {
                projector, cursor, ..
            } = &mut *live;
            if cursor.head().map_or(0, |h| h.seq) < seq {
                self.store.catch_up_from_memory(projector, cursor)?;
            }
            if cursor.head().map_or(0, |h| h.seq) >= seq {
                return Ok(());
            }
        }
        let ledger = Arc::clone(self);
        tokio::task::spawn_blocking(move || ledger.catch_up_to(seq))
            .await
            .map_err(|e| StoreError::Projection {
                projection: PROJECTION_NAME.to_owned(),
                detail: format!("the catch-up with the log failed: {e}"),
            })?
    }

    /// Makes this the ledger of a lab gateway: governance (phases, attempts already recorded)
    /// lives upstream, so a result for a phase this log does not hold is accepted (its fields
    /// checked, its attempt reserved against concurrent writers) and the upstream judges it
    /// when it is forwarded.
    pub fn defer_phases_upstream(&self) {
        self.phases_upstream.store(true, Ordering::Relaxed);
    }

    /// Whether phases are checked upstream (a lab gateway).
    pub fn phases_upstream(&self) -> bool {
        self.phases_upstream.load(Ordering::Relaxed)
    }

    /// Checks a new result against governance and reserves its attempt until [`Ledger::release`].
    pub fn reserve_result(&self, r: &CaseResult, key: &IngestKey) -> Result<(), ResultRefusal> {
        let mut live = self.live();
        let projection = live.projector.projection();
        let phase = projection.phase(&r.phase);
        if phase.is_none() && !self.phases_upstream() {
            return Err(ResultRefusal::UnknownPhase(format!(
                "phase {} is not registered in the governance log",
                r.phase
            )));
        }
        let duplicate = || {
            ResultRefusal::DuplicateAttempt(format!(
                "attempt {} of case {} on device {} in phase {} is already recorded under another \
                 key",
                r.attempt, r.case, r.device, r.phase
            ))
        };
        if phase
            .and_then(|phase| phase.case(&r.case))
            .is_some_and(|c| c.has_attempt(&r.device, r.attempt))
        {
            return Err(duplicate());
        }
        let attempt = attempt_key(r);
        let holder = Holder::Stream(key.clone());
        match live.reservations.get(&attempt) {
            Some(other) if *other != holder => Err(duplicate()),
            _ => {
                live.reservations.insert(attempt, holder);
                Ok(())
            }
        }
    }

    /// Ends the reservation of a result's attempt (after it is projected, or failed to store).
    pub fn release(&self, r: &CaseResult, key: &IngestKey) {
        let attempt = attempt_key(r);
        let mut live = self.live();
        if live.reservations.get(&attempt) == Some(&Holder::Stream(key.clone())) {
            live.reservations.remove(&attempt);
        }
    }

    /// Who is waiting for whom on a case right now.
    pub fn waits(&self) -> LedgerWaits {
        self.live().waits
    }

    /// Waits until no governance write holds the result's case, then counts the result as on its
    /// way to the store until the returned guard is dropped (after it is projected or failed).
    pub async fn admit_result(&self, r: &CaseResult) -> AdmittedResult<'_> {
        let case = CaseRef {
            phase: r.phase.clone(),
            case: r.case.clone(),
        };
        loop {
            let released = self.case_traffic.notified();
            tokio::pin!(released);
            // Registered before the check, so a release between the check and the wait wakes it.
            released.as_mut().enable();
            {
                let mut live = self.live();
                let traffic = live.cases.entry(case.clone()).or_default();
                if !traffic.held {
                    traffic.results += 1;
                    return AdmittedResult { ledger: self, case };
                }
            }
            tracing::debug!(phase = %case.phase, case = %case.case, "result waits for a governance write on its case");
            let _waiting = Waiting::start(self, |w| &mut w.results);
            released.await;
        }
    }

    /// Holds the cases `events` depend on (results for them wait), then waits until the results
    /// admitted before the hold are projected. Call with the write gate held.
    async fn hold_cases(&self, events: &[Event]) -> CaseHold<'_> {
        let mut cases: Vec<CaseRef> = events.iter().flat_map(Event::result_dependencies).collect();
        cases.sort();
        cases.dedup();
        {
            let mut live = self.live();
            for case in &cases {
                live.cases.entry(case.clone()).or_default().held = true;
            }
        }
        let hold = CaseHold {
            ledger: self,
            cases,
        };
        loop {
            let drained = self.case_traffic.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            let busy = {
                let live = self.live();
                hold.cases
                    .iter()
                    .any(|c| live.cases.get(c).is_some_and(|t| t.results > 0))
            };
            if !busy {
                return hold;
            }
            let _waiting = Waiting::start(self, |w| &mut w.governance_writes);
            drained.await;
        }
    }

    /// Trial-applies `events` to a copy of the current state and reserves the attempts of the
    /// results among them; refused (nothing reserved) if the rules refuse an event or a result
    /// stream is writing one of the attempts. Call with the write gate held.
    fn check_and_reserve(
        &self,
        events: &[Event],
    ) -> Result<GovernanceReservation<'_>, AppendRefusal> {
        let mut live = self.live();
        let mut trial = live.projector.projection().clone();
        for event in events {
            let before = trial.clone();
            if let Err(error) = trial.apply(event) {
                return Err(AppendRefusal::Rule(RuleRefusal {
                    error,
                    state: Box::new(before),
                }));
            }
        }
        let attempts: Vec<AttemptKey> = events
            .iter()
            .filter_map(|e| match e {
                Event::ResultRecorded(r) => Some(attempt_key(r)),
                _ => None,
            })
            .collect();
        for (phase, case, device, attempt) in &attempts {
            let key = (phase.clone(), case.clone(), device.clone(), *attempt);
            if let Some(Holder::Stream(stream)) = live.reservations.get(&key) {
                return Err(AppendRefusal::Other(LedgerError::AttemptInFlight(
                    Box::new(AttemptInFlight {
                        phase: phase.clone(),
                        case: case.clone(),
                        device: device.clone(),
                        attempt: *attempt,
                        stream: stream.clone(),
                    }),
                )));
            }
        }
        for attempt in &attempts {
            live.reservations
                .insert(attempt.clone(), Holder::Governance);
        }
        Ok(GovernanceReservation {
            ledger: self,
            attempts,
        })
    }

    /// Appends governance events durably (one transaction), then projects them. Each event is
    /// first trial-applied to a copy of the current state, so an event the rules refuse is
    /// answered with a status and nothing is written; results among the events reserve their
    /// attempts until projected, and an attempt a result stream is writing is ALREADY_EXISTS.
    /// Each event records `actor` (the principal that caused it) inside the hashed payload.
    pub async fn append(&self, events: Vec<Event>, actor: &str) -> Result<Vec<Ack>, LedgerError> {
        match self.append_or_refusal(events, actor).await? {
            Ok(acks) => Ok(acks),
            Err(refusal) => Err(LedgerError::Rule(refusal.error)),
        }
    }

    /// [`Ledger::append`], answering an event the rules refuse with the refusal and the state it
    /// was checked against instead of a status. Results for the cases the events depend on are
    /// held back from the check until the events are projected, so the answer stands.
    pub async fn append_or_refusal(
        &self,
        events: Vec<Event>,
        actor: &str,
    ) -> Result<Result<Vec<Ack>, RuleRefusal>, LedgerError> {
        let _gate = self.gate.lock().await;
        // Replicas on one shared log serialise their governance writes too: the check below
        // must see every replica's writes, and nothing may be written between check and append
        // (`None` on a log this gateway alone writes). Taken after the gate, released before it.
        let _replicas = self.store.lock_replicas(GOVERNANCE_WRITE_LOCK).await?;
        // Declared after the gate so that it is released before the gate opens.
        let _hold = self.hold_cases(&events).await;
        // Every durable event counts, including results whose stream has not projected them and
        // (on a shared log) other replicas' events, read from the database.
        let head = self.store.refresh_head()?.map_or(0, |h| h.seq);
        self.catch_up_to(head)?;
        let _reservation = match self.check_and_reserve(&events) {
            Ok(reservation) => reservation,
            Err(AppendRefusal::Rule(refusal)) => return Ok(Err(refusal)),
            Err(AppendRefusal::Other(error)) => return Err(error),
        };
        let timestamp_ms = now_ms();
        let mut batch = Vec::with_capacity(events.len());
        for event in events {
            let body = crate::projector::encode_governance(event, actor)?;
            batch.push(NewEvent {
                key: None,
                payload: Payload::new(GOVERNANCE_KIND, body),
                timestamp_ms,
            });
        }
        let outcomes = self.store.submit(batch).await?;
        let mut acks = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            acks.push(outcome?.ack);
        }
        let last = acks.last().map_or(0, |a| a.global_seq);
        self.catch_up_to(last)?;
        let live = self.live();
        for ack in &acks {
            if let Some(reason) = live.projector.refusal(ack.global_seq) {
                return Err(LedgerError::RefusedAfterWrite {
                    seq: ack.global_seq,
                    reason: reason.to_owned(),
                });
            }
        }
        Ok(Ok(acks))
    }

    /// Records the projection's fingerprint at its current position, checked on the next start.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let checkpoint = {
            let live = self.live();
            let Some(head) = live.cursor.head() else {
                return Ok(());
            };
            Checkpoint {
                projection: PROJECTION_NAME.to_owned(),
                seq: head.seq,
                fingerprint: live.projector.fingerprint(),
            }
        };
        self.store.record_checkpoint(checkpoint).await
    }
}
