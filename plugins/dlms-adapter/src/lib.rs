//! The DLMS/COSEM adapter plugin: executes every SRV of the plugin vocabulary as its SMETS1
//! Equivalent Steps on a DLMS device, over the TCP wrapper or HDLC on a serial line.
//!
//! Sans-IO, like every adapter: the host passes bytes and time ([`HostEvent`]s) and performs
//! the [`AdapterActions`] returned (transmit, the exchange timer, complete, alert, log). It
//! drives one [`meterlab_dlms::connection::ClientConnection`] per session; the device's facts
//! (OBIS code per object role, supported SRVs, client SAPs) come from the DMC description in
//! the session parameters (`suites/dmcs/`, parsed by `meterlab-dmc`); `describe` lists the
//! DMCs built in (the shipped files).
//!
//! Must never depend on tokio, the plugin host, the emulator or anything doing I/O: only on
//! `meterlab-plugin`, `meterlab-dlms` and `meterlab-dmc` (and pure crates).
//!
//! The association opens at the first request and stays open between requests, so device
//! alerts (EventNotification, DataNotification) arriving while idle become `Alert` actions;
//! 6.15.1 releases it to prove the new keys, and a time-out drops it (its state is unknown).
//! `CloseSession` releases it (RLRQ; over HDLC then DISC) and answers `SessionClosed`, so the
//! device does not hold it until its inactivity time-out.
#![forbid(unsafe_code)]

mod dmc_cache;
mod engine;
mod jobs;
mod keyring;
mod params;

use meterlab_dlms::security::Key;
use meterlab_dmc::{DmcDescription, ObjectRole, all_srvs, required_roles};
use meterlab_plugin::pb::{
    AdapterActions, AdapterInfo, Complete, DmcSupport, HostEvent, LogLevel, ServiceRequest,
    ServiceResponse, SessionConfig, SrvSupport, action, host_event, service_error::Kind,
};
use meterlab_plugin::{Adapter, OpenError};

use crate::engine::{
    Credentials, EXCHANGE_TIMER, Engine, Failure, Mechanism, Op, Outcome, Progress,
};
use crate::jobs::{Answer, Ctx, Job, Step, failure_kind, job_for, rejected};
use crate::keyring::DeviceKeys;
use crate::params::{AuthenticationParams, SessionParams};

/// The adapter id (`describe().id`, the exported id).
pub const ID: &str = env!("CARGO_PKG_NAME");
/// The adapter version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The shipped DMCs (`meterlab_dmc::SHIPPED`), parsed (a text that does not parse is left out;
/// the dmc crate's tests keep them valid).
pub fn shipped_dmcs() -> Vec<DmcDescription> {
    meterlab_dmc::SHIPPED
        .iter()
        .filter_map(|(id, _)| meterlab_dmc::shipped(id).and_then(Result::ok))
        .collect()
}

/// What `describe` says about one DMC: each supported SRV with the declared variations that
/// concern it (those naming it, and those without an SRV on an object its steps use).
pub fn dmc_support(dmc: &DmcDescription) -> DmcSupport {
    let srvs = all_srvs()
        .into_iter()
        .filter(|srv| !dmc.devices_for(*srv).is_empty())
        .map(|srv| {
            let variations = dmc
                .variations
                .iter()
                .filter(|variation| match variation.srv {
                    Some(named) => named == srv,
                    None => required_roles(srv).contains(&variation.object),
                })
                .map(|variation| variation.summary())
                .collect();
            SrvSupport {
                srv: srv.into(),
                variations,
            }
        })
        .collect();
    let devices: Vec<String> = dmc
        .devices
        .iter()
        .map(|device| {
            format!(
                "{} {} (firmware {})",
                device.device_type, device.model, device.firmware
            )
        })
        .collect();
    DmcSupport {
        dmc_id: dmc.id.clone(),
        description: format!("{}: {}", dmc.title, devices.join(", ")),
        srvs,
    }
}

#[derive(Debug)]
struct Running {
    request: ServiceRequest,
    job: Box<dyn Job>,
    started_ms: u64,
    /// The session association is being (re)established before the job's first step.
    associating: bool,
    /// The request started on an association left open by an earlier one, and has had no
    /// answer yet: if that association turns out to be gone (the device dropped it while
    /// idle), the request is started once more on a fresh one.
    may_reassociate: bool,
    /// Reading the device's frame counter as the public client before a keyed association.
    counter_sync: Option<CounterSync>,
    /// This request already read the device's frame counter (a refusal after that is the
    /// device's answer, not a stale counter).
    counter_read: bool,
    /// The keys the association being opened uses, and those to try if it is refused.
    key_trial: Option<KeyTrial>,
}

/// Which keys an association tries when the device's keys are in doubt (a key transfer went
/// unanswered, or an earlier session changed them): the first that succeeds is confirmed.
#[derive(Debug, Clone)]
struct KeyTrial {
    trying: DeviceKeys,
    then: Vec<DeviceKeys>,
    /// An earlier try of this trial that had no answer (which keys the device holds is then
    /// unknown, whatever the later tries answer).
    unanswered: Option<Failure>,
}

/// The stages of reading the device's public `invocation_counter` object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CounterSync {
    Associating,
    Reading,
    Releasing,
    /// HDLC: the public client's link goes down before the keyed client connects.
    Disconnecting,
}

/// One session: a device of a DMC over one link.
/// Where a `CloseSession` is: releasing the association, then (HDLC) disconnecting the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Releasing,
    Disconnecting,
}

#[derive(Debug)]
pub struct DlmsAdapter {
    params: SessionParams,
    /// This session's device and client in the shared keyring (keyed sessions only).
    key_slot: Option<String>,
    credentials: Credentials,
    master_key: Option<Key>,
    engine: Engine,
    running: Option<Running>,
    timer_at: Option<u64>,
    closing: Option<Closing>,
}

impl DlmsAdapter {
    fn ctx(&mut self, now_ms: u64, started_ms: u64) -> Ctx<'_> {
        Ctx {
            params: &self.params,
            credentials: &mut self.credentials,
            master_key: &mut self.master_key,
            key_slot: self.key_slot.as_deref(),
            now_ms,
            started_ms,
            logs: Vec::new(),
        }
    }

    fn execute(&mut self, now_ms: u64, request: ServiceRequest, actions: &mut AdapterActions) {
        if self.running.is_some() || self.closing.is_some() {
            let why = if self.closing.is_some() {
                "the session is closing"
            } else {
                "a request is already outstanding"
            };
            let response = ServiceResponse::error(request.request_id, jobs::fault(why));
            actions.actions.push(
                action::Action::Complete(Complete {
                    response: Some(response),
                })
                .into(),
            );
            return;
        }
        let ctx = self.ctx(now_ms, now_ms);
        let job = job_for(&ctx, &request);
        let job = match job {
            Ok(job) => job,
            Err(kind) => {
                let response = ServiceResponse::error(request.request_id, kind);
                actions.actions.push(
                    action::Action::Complete(Complete {
                        response: Some(response),
                    })
                    .into(),
                );
                return;
            }
        };
        // Keys in doubt: the open association may use keys the device no longer holds.
        let in_doubt = self
            .key_slot
            .as_deref()
            .is_some_and(|slot| keyring::candidate(slot).is_some());
        let associated = !in_doubt && self.engine.associated_as() == Some(&self.credentials);
        self.running = Some(Running {
            request,
            job,
            started_ms: now_ms,
            associating: false,
            may_reassociate: associated,
            counter_sync: None,
            counter_read: false,
            key_trial: None,
        });
        if associated {
            self.step(now_ms, None, actions);
        } else {
            self.begin_association(now_ms, actions);
        }
    }

    /// Opens the session's association for the running request; a keyed client first reads
    /// the device's frame counter as the public client, once per device in this process, so a
    /// new process does not start below what the device accepted (a replay to the device).
    fn begin_association(&mut self, now_ms: u64, actions: &mut AdapterActions) {
        let sync = self.credentials.keys.is_some()
            && self.params.object(ObjectRole::InvocationCounter).is_some()
            && self.engine.needs_counter_sync();
        let Some(running) = self.running.as_mut() else {
            return;
        };
        let op = if sync {
            running.counter_sync = Some(CounterSync::Associating);
            running.counter_read = true;
            Op::Associate(self.public_credentials())
        } else {
            self.main_association()
        };
        let progress = self.engine.start(op, now_ms);
        self.absorb(now_ms, progress, actions);
    }

    /// The session's own association for the running request: with the keys in doubt, the
    /// candidate of an unanswered key transfer first, then the keys in use, then the devices
    /// file's.
    fn main_association(&mut self) -> Op {
        let trial = self.key_trial();
        let credentials = match &trial {
            Some(trial) => self.with_keys(trial.trying),
            None => self.credentials.clone(),
        };
        if let Some(running) = self.running.as_mut() {
            running.associating = true;
            running.key_trial = trial;
        }
        Op::Associate(credentials)
    }

    fn current_keys(&self) -> Option<DeviceKeys> {
        self.credentials
            .keys
            .map(|(_, encryption, authentication)| DeviceKeys {
                encryption,
                authentication,
                master: self.master_key,
            })
    }

    fn key_trial(&self) -> Option<KeyTrial> {
        let slot = self.key_slot.as_deref()?;
        let current = self.current_keys()?;
        let file = self.params.keys.as_ref().map(|keys| DeviceKeys {
            encryption: keys.encryption,
            authentication: keys.authentication,
            master: keys.master,
        });
        let mut order: Vec<DeviceKeys> = Vec::with_capacity(3);
        for keys in [keyring::candidate(slot), Some(current), file]
            .into_iter()
            .flatten()
        {
            if !order.iter().any(|seen| same_keys(seen, &keys)) {
                order.push(keys);
            }
        }
        if order.len() < 2 {
            return None;
        }
        let trying = order.remove(0);
        Some(KeyTrial {
            trying,
            then: order,
            unanswered: None,
        })
    }

    fn with_keys(&self, keys: DeviceKeys) -> Credentials {
        let mut credentials = self.credentials.clone();
        if let Some((title, _, _)) = credentials.keys {
            credentials.keys = Some((title, keys.encryption, keys.authentication));
        }
        credentials
    }

    /// The association with `keys` succeeded: the session and the keyring adopt them.
    fn keys_accepted(&mut self, keys: DeviceKeys, actions: &mut AdapterActions) {
        let Some(slot) = self.key_slot.clone() else {
            return;
        };
        let changed = self
            .current_keys()
            .is_none_or(|current| !same_keys(&current, &keys));
        let had_candidate = keyring::candidate(&slot);
        if changed {
            self.credentials = self.with_keys(keys);
            if keys.master.is_some() {
                self.master_key = keys.master;
            }
            push_log(
                actions,
                LogLevel::Info,
                "the device accepted keys other than the session's: using them from now on"
                    .to_owned(),
            );
        }
        if let Some(candidate) = had_candidate
            && !same_keys(&candidate, &keys)
        {
            push_log(
                actions,
                LogLevel::Info,
                "the unanswered key transfer did not take effect: its keys are dropped".to_owned(),
            );
            keyring::discard_candidate(&slot);
        }
        keyring::confirm(&slot, keys);
    }

    /// The association of a key trial was refused or unanswered: tries the next keys; returns
    /// whether it did.
    fn next_keys(&mut self, now_ms: u64, why: &str, actions: &mut AdapterActions) -> bool {
        let Some(running) = self.running.as_mut() else {
            return false;
        };
        let Some(trial) = running.key_trial.as_mut() else {
            return false;
        };
        if trial.then.is_empty() {
            return false;
        }
        trial.trying = trial.then.remove(0);
        let keys = trial.trying;
        running.associating = true;
        push_log(
            actions,
            LogLevel::Info,
            format!("association with the keys in doubt {why}: trying the other keys"),
        );
        let credentials = self.with_keys(keys);
        let progress = self.engine.start(Op::Associate(credentials), now_ms);
        self.absorb(now_ms, progress, actions);
        true
    }

    fn public_credentials(&self) -> Credentials {
        Credentials {
            sap: self.params.dmc.dlms.public_client_sap,
            mechanism: Mechanism::None,
            keys: None,
            ciphered: false,
        }
    }

    /// One answer of the frame-counter read. Whatever happens, the request's own association
    /// follows: a counter that cannot be read leaves the session's counter as it was.
    fn sync_counter(
        &mut self,
        now_ms: u64,
        stage: CounterSync,
        result: Result<Outcome, Failure>,
        actions: &mut AdapterActions,
    ) {
        let next = match (stage, result) {
            (CounterSync::Associating, Ok(Outcome::Associated)) => {
                match self.params.object(ObjectRole::InvocationCounter) {
                    Some(object) => Some((
                        CounterSync::Reading,
                        Op::Get(jobs::attribute(object, 2), None),
                    )),
                    None => Some((CounterSync::Releasing, Op::Release)),
                }
            }
            (CounterSync::Reading, Ok(Outcome::Value(data))) => {
                match data
                    .as_integer()
                    .and_then(|value| u32::try_from(value).ok())
                {
                    Some(last) => {
                        push_log(
                            actions,
                            LogLevel::Info,
                            format!("the device last accepted frame counter {last}"),
                        );
                        self.engine.counter_synced(Some(last));
                    }
                    None => {
                        push_log(
                            actions,
                            LogLevel::Warn,
                            format!(
                                "the invocation_counter object answered {data:?}, not a counter"
                            ),
                        );
                        self.engine.counter_synced(None);
                    }
                }
                Some((CounterSync::Releasing, Op::Release))
            }
            (CounterSync::Reading, Ok(Outcome::Refused { reason, .. })) => {
                push_log(
                    actions,
                    LogLevel::Warn,
                    format!("the device would not give its frame counter: {reason}"),
                );
                self.engine.counter_synced(None);
                Some((CounterSync::Releasing, Op::Release))
            }
            (CounterSync::Releasing, _) if self.params.transport.is_hdlc() => {
                Some((CounterSync::Disconnecting, Op::Disconnect))
            }
            (CounterSync::Releasing | CounterSync::Disconnecting, _) => None,
            (stage, other) => {
                push_log(
                    actions,
                    LogLevel::Warn,
                    format!("reading the frame counter ({stage:?}) gave {other:?}"),
                );
                self.params
                    .transport
                    .is_hdlc()
                    .then_some((CounterSync::Disconnecting, Op::Disconnect))
            }
        };
        let Some(running) = self.running.as_mut() else {
            return;
        };
        let op = match next {
            Some((stage, op)) => {
                running.counter_sync = Some(stage);
                op
            }
            None => {
                running.counter_sync = None;
                self.main_association()
            }
        };
        let progress = self.engine.start(op, now_ms);
        self.absorb(now_ms, progress, actions);
    }

    /// Feeds the answer to the running job and starts its next operation, until an operation
    /// is outstanding or the job completes.
    fn step(&mut self, now_ms: u64, mut answer: Answer, actions: &mut AdapterActions) {
        loop {
            let Some(running) = self.running.as_mut() else {
                return;
            };
            let started_ms = running.started_ms;
            let mut job = std::mem::replace(&mut running.job, Box::new(Idle));
            let mut ctx = self.ctx(now_ms, started_ms);
            let step = job.next(&mut ctx, answer.take());
            let logs = std::mem::take(&mut ctx.logs);
            for (level, message) in logs {
                push_log(actions, level, message);
            }
            if let Some(running) = self.running.as_mut() {
                running.job = job;
            }
            match step {
                Step::Op(op) => {
                    let progress = self.engine.start(op, now_ms);
                    let finished = self.absorb_side_effects(progress, actions);
                    match finished {
                        Some(result) => {
                            let result = self.note_failure(result);
                            if self.reassociate_after(&result, now_ms, actions) {
                                return;
                            }
                            answer = Some(result);
                        }
                        None => return,
                    }
                }
                Step::Done(outcome) => {
                    self.complete(actions, Ok(outcome));
                    return;
                }
                Step::Error(kind) => {
                    self.complete(actions, Err(kind));
                    return;
                }
            }
        }
    }

    fn note_failure(&mut self, result: Result<Outcome, Failure>) -> Result<Outcome, Failure> {
        if let Err(Failure::Timeout { .. }) = &result {
            // The exchange state is unknown after a time-out: start afresh next time.
            self.engine.reset();
        }
        result
    }

    fn complete(
        &mut self,
        actions: &mut AdapterActions,
        result: Result<meterlab_plugin::pb::service_response::Outcome, Kind>,
    ) {
        let Some(running) = self.running.take() else {
            return;
        };
        let request_id = running.request.request_id;
        let response = match result {
            Ok(outcome) => ServiceResponse::result(request_id, outcome),
            Err(kind) => ServiceResponse::error(request_id, kind),
        };
        actions.actions.push(
            action::Action::Complete(Complete {
                response: Some(response),
            })
            .into(),
        );
    }

    /// Alerts and logs of `progress` become actions; returns the finished operation, if any.
    fn absorb_side_effects(
        &mut self,
        progress: Progress,
        actions: &mut AdapterActions,
    ) -> Option<Result<Outcome, Failure>> {
        for alert in progress.alerts {
            actions.actions.push(action::Action::Alert(alert).into());
        }
        for message in progress.logs {
            push_log(actions, LogLevel::Debug, message);
        }
        progress.finished
    }

    /// Handles what the engine reported for one host event.
    fn absorb(&mut self, now_ms: u64, progress: Progress, actions: &mut AdapterActions) {
        let Some(result) = self.absorb_side_effects(progress, actions) else {
            return;
        };
        let result = self.note_failure(result);
        if self.running.is_none()
            && let Some(stage) = self.closing
        {
            self.closed_step(now_ms, stage, result, actions);
            return;
        }
        let Some(running) = self.running.as_mut() else {
            push_log(
                actions,
                LogLevel::Debug,
                format!("answer with no request outstanding: {result:?}"),
            );
            return;
        };
        if let Some(stage) = running.counter_sync {
            self.sync_counter(now_ms, stage, result, actions);
        } else if running.associating {
            running.associating = false;
            let trial = running.key_trial.take();
            let trying = trial.as_ref().map(|trial| trial.trying);
            let mut unanswered = None;
            if let Some(mut trial) = trial
                && !matches!(result, Ok(Outcome::Associated))
                && !matches!(result, Err(Failure::Link(_)))
            {
                if let Err(failure @ Failure::Timeout { .. }) = &result {
                    trial.unanswered = Some(failure.clone());
                }
                unanswered = trial.unanswered.clone();
                running.key_trial = Some(trial);
                let why = match &result {
                    Ok(Outcome::Refused { reason, .. }) => format!("was refused ({reason})"),
                    _ => "had no answer".to_owned(),
                };
                if self.next_keys(now_ms, &why, actions) {
                    return;
                }
                if let Some(running) = self.running.as_mut() {
                    running.key_trial = None;
                }
            }
            match result {
                Ok(Outcome::Refused { .. }) if unanswered.is_some() => {
                    // Some keys had no answer and the others were refused: which keys the
                    // device holds is unknown, and the line, not the device, made it so.
                    if let Some(failure) = unanswered {
                        self.complete(actions, Err(failure_kind(failure)));
                    }
                }
                Ok(Outcome::Associated) => {
                    if let Some(keys) = trying {
                        self.keys_accepted(keys, actions);
                    }
                    self.step(now_ms, None, actions)
                }
                Ok(Outcome::Refused { code, reason }) => {
                    let keyed = self.credentials.keys.is_some();
                    if keyed {
                        self.engine.counter_in_doubt();
                    }
                    let counter_read = self
                        .running
                        .as_ref()
                        .is_none_or(|running| running.counter_read);
                    let retry = keyed
                        && !counter_read
                        && self.params.object(ObjectRole::InvocationCounter).is_some();
                    if retry {
                        if let Some(running) = self.running.as_mut() {
                            running.counter_read = true;
                        }
                        // A stale frame counter is refused like a wrong key: read the
                        // device's record and try once more above it.
                        push_log(
                            actions,
                            LogLevel::Info,
                            format!(
                                "association refused ({reason}): reading the device's frame counter"
                            ),
                        );
                        self.begin_association(now_ms, actions);
                    } else {
                        self.complete(actions, Err(rejected(code, reason)))
                    }
                }
                Ok(other) => self.complete(
                    actions,
                    Err(jobs::fault(format!("association answered {other:?}"))),
                ),
                Err(failure) => self.complete(actions, Err(failure_kind(failure))),
            }
        } else if !self.reassociate_after(&result, now_ms, actions) {
            self.step(now_ms, Some(result), actions);
        }
    }

    /// When the first operation of a request on a reused association failed on the link,
    /// starts the request again on a fresh association (once); returns whether it did.
    fn reassociate_after(
        &mut self,
        result: &Result<Outcome, Failure>,
        now_ms: u64,
        actions: &mut AdapterActions,
    ) -> bool {
        let Some(running) = self.running.as_mut() else {
            return false;
        };
        if result.is_ok() {
            running.may_reassociate = false;
            return false;
        }
        let lost = matches!(result, Err(Failure::Link(_) | Failure::NotAssociated(_)));
        if !running.may_reassociate || !lost {
            return false;
        }
        running.may_reassociate = false;
        let request = running.request.clone();
        let ctx = self.ctx(now_ms, now_ms);
        let job = match job_for(&ctx, &request) {
            Ok(job) => job,
            Err(kind) => {
                self.complete(actions, Err(kind));
                return true;
            }
        };
        push_log(
            actions,
            LogLevel::Info,
            "the idle association was lost: associating again".to_owned(),
        );
        self.engine.reset();
        if let Some(running) = self.running.as_mut() {
            running.job = job;
        }
        self.begin_association(now_ms, actions);
        true
    }

    /// `CloseSession`: gives the association back (RLRQ), then over HDLC the link (DISC).
    /// A request still outstanding is abandoned (the host ends a session only between requests,
    /// or after a request's deadline, when its state is unknown anyway).
    fn close(&mut self, now_ms: u64, actions: &mut AdapterActions) {
        if let Some(running) = self.running.take() {
            push_log(
                actions,
                LogLevel::Warn,
                format!(
                    "closing with request {:?} outstanding: abandoned",
                    running.request.request_id
                ),
            );
            self.engine.reset();
        }
        self.start_closing(now_ms, Closing::Releasing, actions);
    }

    fn start_closing(&mut self, now_ms: u64, stage: Closing, actions: &mut AdapterActions) {
        self.closing = Some(stage);
        let op = match stage {
            Closing::Releasing => Op::Release,
            Closing::Disconnecting => Op::Disconnect,
        };
        let progress = self.engine.start(op, now_ms);
        self.absorb(now_ms, progress, actions);
    }

    /// One stage of the close finished (a release the device did not answer still closes:
    /// the host is ending the session either way).
    fn closed_step(
        &mut self,
        now_ms: u64,
        stage: Closing,
        result: Result<Outcome, Failure>,
        actions: &mut AdapterActions,
    ) {
        match (&result, stage) {
            (Ok(_), Closing::Releasing) => {
                push_log(actions, LogLevel::Debug, "association released".to_owned());
            }
            (Ok(_), Closing::Disconnecting) => {
                push_log(
                    actions,
                    LogLevel::Debug,
                    "HDLC link disconnected".to_owned(),
                );
            }
            (Err(failure), _) => push_log(
                actions,
                LogLevel::Warn,
                format!("closing ({stage:?}) failed: {failure:?}"),
            ),
        }
        if stage == Closing::Releasing && self.params.transport.is_hdlc() {
            self.start_closing(now_ms, Closing::Disconnecting, actions);
            return;
        }
        self.closing = None;
        actions
            .actions
            .push(action::Action::SessionClosed(meterlab_plugin::pb::SessionClosed {}).into());
    }

    /// Transmits what the connection has to send and keeps the exchange timer on its next
    /// time-out.
    fn flush(&mut self, now_ms: u64, actions: &mut AdapterActions) {
        while let Some(bytes) = self.engine.poll_transmit() {
            actions.actions.push(
                action::Action::Transmit(meterlab_plugin::pb::Transmit { data: bytes }).into(),
            );
        }
        let delay = self.engine.timer_delay(now_ms);
        let at = delay.map(|delay| now_ms.saturating_add(delay));
        if at != self.timer_at {
            match delay {
                Some(delay) => actions.actions.push(
                    action::Action::SetTimer(meterlab_plugin::pb::SetTimer {
                        timer_id: EXCHANGE_TIMER,
                        delay_ms: delay,
                    })
                    .into(),
                ),
                None => actions.actions.push(
                    action::Action::CancelTimer(meterlab_plugin::pb::CancelTimer {
                        timer_id: EXCHANGE_TIMER,
                    })
                    .into(),
                ),
            }
            self.timer_at = at;
        }
    }
}

fn same_keys(a: &DeviceKeys, b: &DeviceKeys) -> bool {
    a.encryption == b.encryption && a.authentication == b.authentication
}

fn push_log(actions: &mut AdapterActions, level: LogLevel, message: String) {
    actions.actions.push(
        action::Action::Log(meterlab_plugin::pb::Log {
            level: level.into(),
            message,
        })
        .into(),
    );
}

/// Placeholder while a job is borrowed out of its slot.
#[derive(Debug)]
struct Idle;

impl Job for Idle {
    fn next(&mut self, _: &mut Ctx<'_>, _: Answer) -> Step {
        Step::Error(jobs::fault("no job"))
    }
}

fn session_credentials(params: &SessionParams) -> Credentials {
    Credentials {
        sap: params.client_sap,
        mechanism: match &params.authentication {
            AuthenticationParams::None => Mechanism::None,
            AuthenticationParams::Lls(password) => Mechanism::Lls(password.clone()),
            AuthenticationParams::HlsGmac => Mechanism::HlsGmac,
        },
        keys: params
            .keys
            .as_ref()
            .filter(|_| params.ciphered || params.authentication == AuthenticationParams::HlsGmac)
            .map(|keys| {
                (
                    keys.client_system_title,
                    keys.encryption,
                    keys.authentication,
                )
            }),
        ciphered: params.ciphered,
    }
}

impl Adapter for DlmsAdapter {
    fn describe() -> AdapterInfo {
        let dmcs = shipped_dmcs();
        let mut smso_ids: Vec<String> = dmcs.iter().map(|dmc| dmc.smso.clone()).collect();
        smso_ids.sort();
        smso_ids.dedup();
        AdapterInfo {
            id: ID.to_owned(),
            version: VERSION.to_owned(),
            smso_ids,
            dmcs: dmcs.iter().map(dmc_support).collect(),
        }
    }

    fn open(config: SessionConfig) -> Result<Self, OpenError> {
        let params = SessionParams::from_config(&config)?;
        let credentials = session_credentials(&params);
        let mut credentials = credentials;
        let mut master_key = params.keys.as_ref().and_then(|keys| keys.master);
        let key_slot = keyring::slot(&params);
        // Keys an earlier session saw the device accept replace the devices file's.
        if let Some(confirmed) = key_slot.as_deref().and_then(keyring::confirmed) {
            if let Some((title, _, _)) = credentials.keys {
                credentials.keys = Some((title, confirmed.encryption, confirmed.authentication));
            }
            if confirmed.master.is_some() {
                master_key = confirmed.master;
            }
        }
        let engine = Engine::new(&params);
        Ok(Self {
            params,
            key_slot,
            credentials,
            master_key,
            engine,
            running: None,
            timer_at: None,
            closing: None,
        })
    }

    fn handle(&mut self, event: HostEvent) -> AdapterActions {
        let now_ms = event.now_ms;
        let mut actions = AdapterActions::none();
        match event.event {
            Some(host_event::Event::Execute(execute)) => match execute.request {
                Some(request) => self.execute(now_ms, request, &mut actions),
                None => push_log(
                    &mut actions,
                    LogLevel::Warn,
                    "execute without a request".to_owned(),
                ),
            },
            Some(host_event::Event::BytesReceived(bytes)) => {
                let progress = self.engine.handle_bytes(&bytes.data, now_ms);
                self.absorb(now_ms, progress, &mut actions);
            }
            Some(host_event::Event::TimerFired(timer)) if timer.timer_id == EXCHANGE_TIMER => {
                self.timer_at = None;
                let progress = self.engine.handle_timer(now_ms);
                self.absorb(now_ms, progress, &mut actions);
            }
            Some(host_event::Event::LinkClosed(closed)) => {
                self.timer_at = None;
                if let Some(running) = self.running.as_mut() {
                    // Nothing can be re-sent on a closed link.
                    running.may_reassociate = false;
                }
                let progress = self.engine.link_closed(&closed.reason);
                self.absorb(now_ms, progress, &mut actions);
                if let Some(running) = self.running.take() {
                    let kind =
                        failure_kind(Failure::Link(format!("the link closed: {}", closed.reason)));
                    let response = ServiceResponse::error(running.request.request_id, kind);
                    actions.actions.push(
                        action::Action::Complete(Complete {
                            response: Some(response),
                        })
                        .into(),
                    );
                }
            }
            Some(host_event::Event::CloseSession(_)) => self.close(now_ms, &mut actions),
            Some(host_event::Event::TimerFired(_) | host_event::Event::LinkOpened(_)) | None => {}
        }
        self.flush(now_ms, &mut actions);
        actions
    }
}

meterlab_plugin::export_adapter!(DlmsAdapter);
