//! Store-and-forward: a lab gateway (`meterlab serve --upstream URL`) acknowledges results once
//! they are durable in its own store and forwards them, per source and in seq order, to the
//! central ResultService with `meterlab-client`'s [`ResultStreamer`].
//!
//! # The outbox is the lab's own log
//! Results are acknowledged by the ordinary ingest (durable, idempotent, hash-chained); the
//! outbox is not a second table. What is still to forward is derived: for each source, the seqs
//! above the upstream's watermark (asked at every stream open) up to the local watermark. So
//! nothing acknowledged locally can be dropped by the outbox (it never deletes or marks
//! anything), a crash of either side loses no forwarding state (the upstream's watermark is the
//! position), and the local log stays append-only and verifiable. The upstream keys a forwarded
//! result by its original `(source, run_id, seq)`, so resending after any failure is a replay
//! there, never a duplicate: the effect is exactly-once.
//!
//! # Failures
//! - The upstream is unreachable or a stream breaks: retried with exponential backoff and
//!   jitter ([`Backoff`]), rotating through the configured URLs (central replicas).
//! - The upstream holds a different result under a key (a conflict): forwarding of that source
//!   stops, logged as an error and shown by `meterlab status`; nothing is skipped. Other
//!   rejections (e.g. a phase not registered upstream yet) are retried with backoff.
//!
//! Governance lives upstream: a lab gateway refuses GovernanceService calls with
//! FAILED_PRECONDITION naming the central URL (see [`governance_refusal`]).

mod service;

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use meterlab_client::{Client, ClientError, ConnectOptions, ResultStreamer};
use meterlab_proto::v1 as pb;
use meterlab_store::IngestKey;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

pub use service::OutboxServiceImpl;

use crate::convert::result::RESULT_KIND;
use crate::ledger::{Ledger, now_ms};
use crate::results::RESULTS_RUN;

/// Where and how a lab gateway forwards its results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Central ResultService URLs (`http://` or `https://`), tried in turn.
    pub urls: Vec<String>,
    /// Credentials for them (CA, client certificate, bearer token file).
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub token_file: Option<PathBuf>,
    /// Pauses between failed attempts.
    pub backoff: BackoffPolicy,
}

impl UpstreamConfig {
    /// An upstream at `urls` with no credentials and the default backoff.
    pub fn new(urls: Vec<String>) -> UpstreamConfig {
        UpstreamConfig {
            urls,
            ca: None,
            cert: None,
            key: None,
            token_file: None,
            backoff: BackoffPolicy::default(),
        }
    }

    fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            token_file: self.token_file.clone(),
        }
    }
}

/// Exponential backoff: the n-th pause after consecutive failures is drawn uniformly from
/// `[c/2, c]` where `c = min(first * 2^n, max)` — jitter so that many lab gateways coming back
/// after a central outage do not reconnect in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub first: Duration,
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            first: Duration::from_millis(250),
            max: Duration::from_secs(30),
        }
    }
}

/// The pauses of one run of consecutive failures.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
}

impl Backoff {
    pub fn new(policy: BackoffPolicy) -> Backoff {
        Backoff {
            policy,
            failures: 0,
        }
    }

    /// After a success: the next failure waits the shortest pause again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The pause after one more failure, jittered by `random` (any u64, uniformly drawn).
    pub fn next_pause(&mut self, random: u64) -> Duration {
        let ceiling = self
            .policy
            .first
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.policy.max);
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(random % spread.saturating_add(1))
    }
}

/// A random u64 from the standard library's randomly keyed hasher (no dependency; jitter needs
/// no cryptographic quality).
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_i64(now_ms());
    hasher.finish()
}

#[derive(Debug, Clone, Default)]
struct SourceState {
    local: u64,
    /// Every seq up to this was acknowledged by the upstream as the very result stored here (a
    /// new ack or a replay of the same content); durable as an outbox checkpoint.
    confirmed: u64,
    /// The upstream's watermark as last seen; `None` before it has answered.
    upstream: Option<u64>,
    /// Why forwarding of the source stopped.
    stopped: Option<String>,
}

/// Checkpoint name prefix of a source's confirmed forwarding position: the checkpoint's `seq`
/// is the log position of the source's last confirmed result and its fingerprint that event's
/// hash, so a position that no longer matches the log is noticed (and everything re-checked).
pub const OUTBOX_CHECKPOINT_PREFIX: &str = "meterlab-server.outbox/";

#[derive(Debug, Clone)]
struct LastForward {
    at_ms: i64,
    source: String,
    seq: u64,
    url: String,
}

#[derive(Debug, Default)]
struct OutboxState {
    sources: BTreeMap<String, SourceState>,
    /// The log is scanned for sources up to here.
    scanned_to: u64,
    last_forward: Option<LastForward>,
    last_error: Option<(i64, String)>,
}

/// The forwarding state of a lab gateway, shared by the forwarder and the OutboxService.
#[derive(Debug, Clone)]
pub struct Outbox {
    ledger: Arc<Ledger>,
    config: Arc<UpstreamConfig>,
    state: Arc<Mutex<OutboxState>>,
}

/// Why a forwarding round ended early.
enum Failure {
    /// Try again later (the upstream is down, a stream broke, a rejection that may clear).
    Retry(String),
    /// The source cannot be forwarded without an operator: stop it, go on with the others.
    Stop(String),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        match &error {
            ClientError::Rejected { reason, .. } if reason == "REJECT_REASON_CONFLICT" => {
                Failure::Stop(error.to_string())
            }
            _ => Failure::Retry(error.to_string()),
        }
    }
}

impl From<meterlab_store::StoreError> for Failure {
    fn from(error: meterlab_store::StoreError) -> Failure {
        Failure::Retry(format!("local store: {error}"))
    }
}

fn timestamp(ms: i64) -> prost_types::Timestamp {
    crate::convert::timestamp_from_ms(ms)
}

impl Outbox {
    /// The outbox of `ledger`'s store, forwarding to `config`'s upstream.
    pub fn new(ledger: Arc<Ledger>, config: UpstreamConfig) -> Outbox {
        Outbox {
            ledger,
            config: Arc::new(config),
            state: Arc::default(),
        }
    }

    /// The upstream URLs.
    pub fn urls(&self) -> &[String] {
        &self.config.urls
    }

    fn state(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Backlog, last forward and per-source positions (local watermarks read now).
    pub fn status(&self) -> Result<pb::OutboxStatus, meterlab_store::StoreError> {
        let names: Vec<String> = self.state().sources.keys().cloned().collect();
        let mut locals = Vec::with_capacity(names.len());
        for name in &names {
            locals.push(self.ledger.store().watermark(name, RESULTS_RUN)?);
        }
        let state = self.state();
        let mut status = pb::OutboxStatus {
            upstream_urls: self.config.urls.clone(),
            backlog_known: true,
            ..pb::OutboxStatus::default()
        };
        for (name, local) in names.iter().zip(locals) {
            let Some(source) = state.sources.get(name) else {
                continue;
            };
            let local = local.max(source.local);
            match (source.upstream, &source.stopped) {
                (_, Some(_)) => status.backlog += local.saturating_sub(source.confirmed),
                (Some(upstream), None) => {
                    status.backlog += local.saturating_sub(upstream.max(source.confirmed));
                }
                (None, None) => status.backlog_known = false,
            }
            status.sources.push(pb::OutboxSource {
                source: name.clone(),
                local_watermark: local,
                upstream_watermark: source.upstream.unwrap_or(0),
                confirmed: source.confirmed,
                stopped: source.stopped.clone().unwrap_or_default(),
            });
        }
        if let Some(last) = &state.last_forward {
            status.last_forward_at = Some(timestamp(last.at_ms));
            status.last_forward_source.clone_from(&last.source);
            status.last_forward_seq = last.seq;
            status.last_forward_url.clone_from(&last.url);
        }
        if let Some((at, error)) = &state.last_error {
            status.last_error_at = Some(timestamp(*at));
            status.last_error.clone_from(error);
        }
        Ok(status)
    }

    /// Reads the log past the last scan for sources of results, and their local watermarks.
    fn scan(&self) -> Result<(), meterlab_store::StoreError> {
        const PAGE: usize = 1024;
        let store = self.ledger.store();
        let mut from = self.state().scanned_to + 1;
        loop {
            let events = store.read_range(from, PAGE)?;
            let Some(last) = events.last().map(|e| e.seq) else {
                break;
            };
            let mut found = Vec::new();
            {
                let mut state = self.state();
                for event in &events {
                    if let Some(key) = &event.key
                        && key.run == RESULTS_RUN
                        && event.payload.kind == RESULT_KIND
                        && !state.sources.contains_key(&key.source)
                    {
                        state
                            .sources
                            .insert(key.source.clone(), SourceState::default());
                        found.push(key.source.clone());
                    }
                }
                state.scanned_to = last;
            }
            for source in found {
                let confirmed = self.recorded_position(&source)?;
                if let Some(s) = self.state().sources.get_mut(&source) {
                    s.confirmed = confirmed;
                }
            }
            from = last + 1;
            if events.len() < PAGE {
                break;
            }
        }
        let names: Vec<String> = self.state().sources.keys().cloned().collect();
        for name in names {
            let local = store.watermark(&name, RESULTS_RUN)?;
            if let Some(source) = self.state().sources.get_mut(&name) {
                source.local = local;
            }
        }
        Ok(())
    }

    /// The confirmed position recorded for `source` (0 when none, or when it does not match the
    /// log: then everything is checked again, which costs replays, never correctness).
    fn recorded_position(&self, source: &str) -> Result<u64, meterlab_store::StoreError> {
        let store = self.ledger.store();
        let Some(checkpoint) = store.checkpoint(&format!("{OUTBOX_CHECKPOINT_PREFIX}{source}"))?
        else {
            return Ok(0);
        };
        let event = store.read_range(checkpoint.seq, 1)?.into_iter().next();
        match event {
            Some(event)
                if event.seq == checkpoint.seq
                    && event.hash == checkpoint.fingerprint
                    && event.key.as_ref().is_some_and(|k| k.source == source) =>
            {
                Ok(event.key.map_or(0, |k| k.seq))
            }
            _ => {
                tracing::warn!(%source, position = checkpoint.seq, "the outbox checkpoint does not match the log; checking every forwarded result again");
                Ok(0)
            }
        }
    }

    /// Records that `source` is confirmed up to `seq` (durably, through the store's writer).
    async fn record_position(&self, source: &str, seq: u64) -> Result<(), Failure> {
        if seq == 0 {
            return Ok(());
        }
        let key = IngestKey::new(source, RESULTS_RUN, seq);
        let Some(event) = self.ledger.store().get(&key)? else {
            return Ok(());
        };
        self.ledger
            .store()
            .record_checkpoint(meterlab_store::Checkpoint {
                projection: format!("{OUTBOX_CHECKPOINT_PREFIX}{source}"),
                seq: event.seq,
                fingerprint: event.hash,
            })
            .await?;
        if let Some(s) = self.state().sources.get_mut(source) {
            s.confirmed = s.confirmed.max(seq);
        }
        Ok(())
    }

    /// Sources with something to forward or to confirm.
    fn due(&self) -> Vec<String> {
        self.state()
            .sources
            .iter()
            .filter(|(_, s)| s.stopped.is_none() && (s.confirmed < s.local || s.upstream.is_none()))
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn confirmed(&self, source: &str) -> u64 {
        self.state().sources.get(source).map_or(0, |s| s.confirmed)
    }

    fn upstream_at(&self, source: &str, watermark: u64) {
        if let Some(s) = self.state().sources.get_mut(source) {
            s.upstream = Some(s.upstream.map_or(watermark, |w| w.max(watermark)));
        }
    }

    /// After a round that forwarded everything: the last error is history, unless a source
    /// stays stopped (its error must stay visible).
    fn clear_error_unless_stopped(&self) {
        let mut state = self.state();
        if state.sources.values().all(|s| s.stopped.is_none()) {
            state.last_error = None;
        }
    }

    fn failed(&self, error: &str) {
        self.state().last_error = Some((now_ms(), error.to_owned()));
    }

    /// Forwards every due source to `url`.
    async fn round(&self, url: &str) -> Result<(), String> {
        let due = self.due();
        if due.is_empty() {
            return Ok(());
        }
        let client = Client::connect(url, &self.config.connect_options())
            .await
            .map_err(|e| format!("{url}: {e}"))?
            .with_actor("meterlab serve --upstream");
        for source in due {
            match self.forward_source(&client, url, &source).await {
                Ok(()) => {}
                Err(Failure::Retry(error)) => return Err(format!("{url}: {error}")),
                Err(Failure::Stop(error)) => {
                    let message = format!("{url}: {error}");
                    tracing::error!(%source, error = %message, "forwarding of the source STOPPED; nothing of it is skipped, it resumes after a restart");
                    self.failed(&message);
                    if let Some(s) = self.state().sources.get_mut(&source) {
                        s.stopped = Some(message);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sends `source`'s results after its confirmed position, in seq order, each in its run.
    /// Those the upstream's watermark already covers are sent too: the upstream answers each
    /// with a replay when it holds the same result, or a conflict when another writer stored
    /// something else under the key — which must stop the source, never pass for forwarded.
    async fn forward_source(
        &self,
        client: &Client,
        url: &str,
        source: &str,
    ) -> Result<(), Failure> {
        let store = self.ledger.store();
        let mut streamer = ResultStreamer::open(client, source, "").await?;
        self.upstream_at(source, streamer.watermark());
        let reconnects = streamer.reconnects();
        let local = store.watermark(source, RESULTS_RUN)?;
        for seq in self.confirmed(source) + 1..=local {
            let key = IngestKey::new(source, RESULTS_RUN, seq);
            let stored = store.get(&key)?.ok_or_else(|| {
                Failure::Retry(format!("{key} is below the local watermark but not stored"))
            })?;
            let submit = pb::SubmitResult::decode(stored.payload.body.as_slice()).map_err(|e| {
                Failure::Stop(format!(
                    "local event #{} ({key}) is not a result: {e}",
                    stored.seq
                ))
            })?;
            let run_id = submit.key.map(|k| k.run_id).unwrap_or_default();
            let result = submit.result.ok_or_else(|| {
                Failure::Stop(format!(
                    "local event #{} ({key}) holds no result",
                    stored.seq
                ))
            })?;
            if streamer.run_id() != run_id {
                streamer.continue_in_run(&run_id).await?;
                self.upstream_at(source, streamer.watermark());
            }
            streamer
                .resubmit_checked(seq, &result.encode_to_vec())
                .await?;
            self.upstream_at(source, streamer.watermark());
        }
        let stats = streamer.finish().await?;
        self.upstream_at(source, stats.watermark);
        if stats.reconnects == reconnects {
            // Every result was answered on one stream, each by an ack or a replay of its own.
            self.record_position(source, local).await?;
        } else {
            // A reconnect counts results its watermark covers as stored unchecked: the next
            // round sends them again from the confirmed position.
            tracing::info!(%source, "the upstream stream was reopened; confirming again");
        }
        if stats.acknowledged > 0 {
            self.state().last_forward = Some(LastForward {
                at_ms: now_ms(),
                source: source.to_owned(),
                seq: stats.watermark,
                url: url.to_owned(),
            });
        }
        tracing::debug!(%source, %url, watermark = stats.watermark, "forwarded");
        Ok(())
    }

    /// Forwards until `shutdown`: after every new commit, and after failures with backoff.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut heads = self.ledger.store().subscribe();
        let mut backoff = Backoff::new(self.config.backoff);
        let mut url_index = 0;
        loop {
            heads.borrow_and_update();
            let outcome = match self.scan() {
                Ok(()) => {
                    let url = &self.config.urls[url_index % self.config.urls.len()];
                    self.round(url).await
                }
                Err(error) => Err(format!("local store: {error}")),
            };
            match outcome {
                Ok(()) => {
                    backoff.reset();
                    if self.due().is_empty() {
                        self.clear_error_unless_stopped();
                        tokio::select! {
                            () = shutdown.cancelled() => return,
                            changed = heads.changed() => if changed.is_err() { return },
                        }
                    }
                }
                Err(error) => {
                    let pause = backoff.next_pause(random_u64());
                    tracing::warn!(%error, pause_ms = pause.as_millis(), "forwarding to the upstream failed; retrying");
                    self.failed(&error);
                    url_index += 1;
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }
}

/// The answer of a lab gateway's GovernanceService: governance lives upstream.
pub fn governance_refusal(urls: &[String]) -> tonic::Status {
    let first = urls.first().map_or("", String::as_str);
    tonic::Status::failed_precondition(format!(
        "this is a lab gateway forwarding results to {}: governance (plans, decisions, verdicts, \
         reports) lives on the central service; send this request there (--gateway {first})",
        urls.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_stay_within_the_jitter_band() {
        let policy = BackoffPolicy {
            first: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let mut backoff = Backoff::new(policy);
        let ceilings = [100, 200, 400, 800, 1000, 1000];
        for ceiling in ceilings {
            let ceiling = Duration::from_millis(ceiling);
            let mut low = backoff.clone();
            let mut high = backoff.clone();
            let pause = backoff.next_pause(random_u64());
            assert!(
                pause >= ceiling / 2 && pause <= ceiling,
                "{pause:?} vs {ceiling:?}"
            );
            assert_eq!(low.next_pause(0), ceiling / 2);
            let spread = u64::try_from((ceiling - ceiling / 2).as_micros()).expect("fits");
            assert_eq!(high.next_pause(spread), ceiling);
        }
        backoff.reset();
        assert!(backoff.next_pause(u64::MAX) <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_pauses() {
        let policy = BackoffPolicy::default();
        let pauses: std::collections::BTreeSet<Duration> = (0..16)
            .map(|_| Backoff::new(policy).next_pause(random_u64()))
            .collect();
        assert!(pauses.len() > 1, "16 draws gave one pause: {pauses:?}");
    }

    #[test]
    fn a_conflict_stops_the_source_and_other_rejections_are_retried() {
        let rejected = |reason: &str| ClientError::Rejected {
            source_name: "rig".into(),
            seq: 3,
            reason: reason.into(),
            message: "m".into(),
        };
        assert!(matches!(
            Failure::from(rejected("REJECT_REASON_CONFLICT")),
            Failure::Stop(_)
        ));
        assert!(matches!(
            Failure::from(rejected("REJECT_REASON_UNKNOWN_PHASE")),
            Failure::Retry(_)
        ));
    }
}
