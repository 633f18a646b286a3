//! The executor: works one link group (a device, or the devices sharing a serial line) through
//! its cases, one session per device at a time, and reports what happens to the dispatcher.
//! `session.rs` holds the session side: opening, executing one request, closing, the health
//! check.

mod optical;
mod restore;
mod session;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meterlab_link::Capture;
use meterlab_plugin::pb::{ServiceRequest, ServiceResponse};
use meterlab_plugin_host::{Plugin, Session};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::case::{CaseAttempt, Judgement, Port};
use crate::event::{LogLevel, RunEventKind};
use crate::evidence::{self, EvidenceKey};
use crate::lease::{Lease, Leases};
use crate::result::{CaseResult, CaseStatus, StepRecord};
use crate::settings::{DeviceUnit, PlannedCase, RunSettings};
use crate::target::{Connector, DeviceTarget};

/// What an executor tells the dispatcher.
#[derive(Debug)]
pub(crate) enum Report {
    Event(RunEventKind),
    /// The counting attempt of one case on one device ended with `status`; `flaky` when it
    /// passed after an attempt that did not.
    Counted {
        status: CaseStatus,
        flaky: bool,
    },
}

/// Everything the executors of one run share.
#[derive(Debug)]
pub(crate) struct Shared<C> {
    pub plugin: Arc<Plugin>,
    /// The adapter of steps `via = "optical"`, when the run has one.
    pub optical_plugin: Option<Arc<Plugin>>,
    pub connector: Arc<C>,
    pub leases: Leases,
    pub settings: RunSettings,
    pub run_id: String,
    pub run_deadline: Instant,
    pub reports: mpsc::UnboundedSender<Report>,
}

impl<C> Shared<C> {
    pub(crate) fn report(&self, kind: RunEventKind) {
        // The dispatcher outlives every executor; a send can only fail once it is gone.
        let _ = self.reports.send(Report::Event(kind));
    }

    fn log(&self, level: LogLevel, device: &str, message: String) {
        self.report(RunEventKind::Log {
            level,
            message,
            device_id: Some(device.to_owned()),
        });
    }
}

/// Wall-clock time for result timestamps and the cases' reference clock. The runner is an I/O
/// edge (it drives real links), so it may read the wall clock; durations and timeouts use
/// tokio's clock so that tests can pause it.
#[allow(
    clippy::disallowed_methods,
    reason = "the runner is an I/O edge: results and run events carry wall-clock timestamps"
)]
pub(crate) fn wall_clock() -> SystemTime {
    SystemTime::now()
}

/// The reference clock (UTC milliseconds) cases build their requests against.
pub(crate) fn utc_now_ms() -> i64 {
    wall_clock().duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
    })
}

/// Why a request produced no response.
#[derive(Debug)]
pub(crate) struct ExecError {
    pub text: String,
    /// The adapter misbehaved (as opposed to the link, the device or the clock).
    pub adapter_fault: bool,
}

impl ExecError {
    fn infrastructure(text: String) -> Self {
        Self {
            text,
            adapter_fault: false,
        }
    }
}

/// An adapter session on an open link.
pub(crate) struct Open<L> {
    pub session: Session<L>,
    pub capture: Capture,
}

/// Why a case stopped before it finished (cancellation or the run's deadline).
fn stop_reason(cancel: &watch::Receiver<bool>, run_deadline: Instant) -> Option<&'static str> {
    if *cancel.borrow() {
        Some("the run was cancelled")
    } else if Instant::now() >= run_deadline {
        Some("the run timeout elapsed")
    } else {
        None
    }
}

/// The run's cancellation as one future per device worker, raced against each step. A
/// `wait_for` made per step would enter and leave the channel's waiter list (a lock each way)
/// every step; this one registers once and stays registered until the run is cancelled.
struct Cancelled {
    wait: futures::future::Fuse<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl Cancelled {
    fn new(mut cancel: watch::Receiver<bool>) -> Self {
        use futures::FutureExt as _;
        let wait: std::pin::Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async move {
            // A closed channel means the run ended: nothing will cancel it any more.
            if cancel.wait_for(|cancelled| *cancelled).await.is_err() {
                std::future::pending::<()>().await;
            }
        });
        Self { wait: wait.fuse() }
    }
}

impl Future for Cancelled {
    type Output = ();

    /// Ready once the run is cancelled, and again at every poll after: a step started after
    /// the cancellation is cancelled at once.
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        use futures::future::FusedFuture as _;
        if self.wait.is_terminated() {
            return std::task::Poll::Ready(());
        }
        std::pin::Pin::new(&mut self.wait).poll(context)
    }
}

/// Works the devices of one link group, one after another.
pub(crate) async fn run_group<C: Connector>(
    shared: Arc<Shared<C>>,
    units: Vec<DeviceUnit>,
    cancel: watch::Receiver<bool>,
) {
    for unit in units {
        DeviceWorker {
            shared: Arc::clone(&shared),
            target: unit.target,
            cancelled: Cancelled::new(cancel.clone()),
            cancel: cancel.clone(),
            open: None,
            last_capture: None,
            sessions_opened: 0,
            state_lost: None,
            optical: None,
            optical_capture: None,
        }
        .run(unit.cases)
        .await;
    }
}

struct DeviceWorker<C: Connector> {
    shared: Arc<Shared<C>>,
    target: DeviceTarget,
    cancel: watch::Receiver<bool>,
    /// Completes when the run is cancelled; raced against every step.
    cancelled: Cancelled,
    open: Option<Open<C::Link>>,
    /// The capture of the last session that ended, for the evidence of the attempt it ended in.
    last_capture: Option<Capture>,
    sessions_opened: u32,
    /// Set when a case's restore steps did not pass: the device's state is unknown, so the
    /// cases after it end `blocked` with this reason instead of running.
    state_lost: Option<String>,
    /// The attempt's session on the optical port, and the capture of the last one opened.
    optical: Option<Open<C::Link>>,
    optical_capture: Option<Capture>,
}

impl<C: Connector> DeviceWorker<C> {
    fn device_id(&self) -> String {
        self.target.id().to_owned()
    }

    async fn run(mut self, cases: Vec<PlannedCase>) {
        let device = self.device_id();
        let lease = match self.shared.leases.acquire(
            &device,
            &self.shared.run_id,
            self.shared.settings.lease_ttl,
        ) {
            Ok(lease) => lease,
            Err(error) => {
                self.skip_all(&cases, &format!("not run: {error}"));
                return;
            }
        };
        if self.shared.settings.health_check || self.shared.settings.check_only {
            let health = self.check().await;
            let healthy = health.healthy;
            let reason = health.describe();
            self.shared.report(RunEventKind::DeviceChecked(health));
            if !healthy {
                self.shared.log(
                    LogLevel::Warn,
                    &device,
                    format!("{device} skipped: {reason}"),
                );
                self.skip_all(&cases, &format!("device unhealthy: {reason}"));
                self.finish_session().await;
                return;
            }
        }
        if self.shared.settings.check_only {
            self.finish_session().await;
            return;
        }
        for planned in &cases {
            if let Some(reason) = self.state_lost.clone()
                && stop_reason(&self.cancel, self.shared.run_deadline).is_none()
            {
                self.block_unrestored(planned, &reason);
                continue;
            }
            self.run_case(planned, &lease).await;
        }
        self.finish_session().await;
    }

    fn skip_all(&self, cases: &[PlannedCase], reason: &str) {
        for planned in cases {
            let result = self.not_run(planned, reason);
            self.shared
                .report(RunEventKind::CaseFinished(Box::new(result)));
            let _ = self.shared.reports.send(Report::Counted {
                status: CaseStatus::NotRun,
                flaky: false,
            });
        }
    }

    /// Ends a case `blocked` without running it: an earlier case left the device's state
    /// unknown.
    fn block_unrestored(&self, planned: &PlannedCase, reason: &str) {
        let now = wall_clock();
        let result = self.seal(
            planned,
            planned.attempts_before + 1,
            CaseStatus::Blocked,
            format!("not run on a device whose state was not restored: {reason}"),
            Vec::new(),
            Vec::new(),
            (now, now, Duration::ZERO),
        );
        self.shared
            .report(RunEventKind::CaseFinished(Box::new(result)));
        let _ = self.shared.reports.send(Report::Counted {
            status: CaseStatus::Blocked,
            flaky: false,
        });
    }

    fn not_run(&self, planned: &PlannedCase, reason: &str) -> CaseResult {
        let now = wall_clock();
        self.seal(
            planned,
            planned.attempts_before + 1,
            CaseStatus::NotRun,
            reason.to_owned(),
            Vec::new(),
            Vec::new(),
            (now, now, Duration::ZERO),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn seal(
        &self,
        planned: &PlannedCase,
        attempt: u32,
        status: CaseStatus,
        detail: String,
        steps: Vec<StepRecord>,
        capture: Vec<meterlab_link::CaptureEntry>,
        (started_at, finished_at, elapsed): (SystemTime, SystemTime, Duration),
    ) -> CaseResult {
        let case_sha256 = planned.case.content_sha256();
        let traffic = evidence::traffic(capture);
        let case_id = planned.case.id().to_owned();
        let device_id = self.device_id();
        let (evidence_json, evidence_sha256) = evidence::seal(
            &EvidenceKey {
                run_id: &self.shared.run_id,
                case_id: &case_id,
                case_sha256: &case_sha256,
                device_id: &device_id,
                dmc_id: self.target.dmc_id(),
                attempt,
            },
            status,
            &detail,
            &steps,
            &traffic,
        );
        CaseResult {
            case_id,
            case_sha256,
            srv: planned.case.srv(),
            device_id,
            dmc_id: self.target.dmc_id().to_owned(),
            attempt,
            max_attempts: planned.attempts_before + self.shared.settings.retry.retries + 1,
            status,
            detail,
            steps,
            traffic,
            evidence_sha256,
            evidence_json,
            started_at,
            finished_at,
            elapsed,
        }
    }

    /// Every attempt the retry policy allows, until one passes.
    async fn run_case(&mut self, planned: &PlannedCase, lease: &Lease) {
        if planned.case.uses_optical()
            && let Err(reason) = self.optical_route()
        {
            self.skip_all(
                std::slice::from_ref(planned),
                &format!("skipped: the case reads the optical port, but {reason}"),
            );
            return;
        }
        let retry = self.shared.settings.retry;
        let mut status = CaseStatus::NotRun;
        let mut flaky = false;
        for extra in 0..=retry.retries {
            let attempt = planned.attempts_before + extra + 1;
            if let Some(reason) = stop_reason(&self.cancel, self.shared.run_deadline) {
                if extra == 0 {
                    let result = self.not_run(planned, &format!("not run: {reason}"));
                    status = result.status;
                    self.shared
                        .report(RunEventKind::CaseFinished(Box::new(result)));
                }
                break;
            }
            self.shared.report(RunEventKind::CaseStarted {
                case_id: planned.case.id().to_owned(),
                device_id: self.device_id(),
                attempt,
                srv: planned.case.srv(),
            });
            let result = self.attempt(planned, attempt, lease).await;
            status = result.status;
            self.shared
                .report(RunEventKind::CaseFinished(Box::new(result)));
            if status == CaseStatus::Passed {
                flaky = extra > 0;
                break;
            }
            if self.state_lost.is_some() {
                // Another attempt would start from an unknown state.
                break;
            }
            if extra < retry.retries && !retry.delay.is_zero() {
                let mut cancel = self.cancel.clone();
                tokio::select! {
                    () = tokio::time::sleep_until(
                        (Instant::now() + retry.delay).min(self.shared.run_deadline)
                    ) => {}
                    _ = cancel.wait_for(|cancelled| *cancelled) => {}
                }
            }
        }
        let _ = self.shared.reports.send(Report::Counted { status, flaky });
    }

    /// One attempt of one case.
    async fn attempt(&mut self, planned: &PlannedCase, attempt: u32, lease: &Lease) -> CaseResult {
        let started_at = wall_clock();
        let started = Instant::now();
        let timeouts = self.shared.settings.timeouts;
        let case_deadline = (started + timeouts.case).min(self.shared.run_deadline);
        let mut steps = Vec::new();
        let mut capture = None;
        let mut script = None;
        let outcome = self
            .steps(
                planned,
                attempt,
                lease,
                case_deadline,
                (&mut steps, &mut capture, &mut script),
            )
            .await;
        let (mut status, mut detail) = outcome;
        // Restore what the case may have changed, whatever its outcome, once bytes went to the
        // device: an attempt the adapter failed before transmitting changed nothing, and a
        // restore through the same broken adapter would only end the device's other cases.
        if let Some(script) = script.as_mut()
            && !steps.is_empty()
            && transmitted(capture.as_ref())
            && let Err(unrestored) = self
                .restore(planned, attempt, &mut **script, &mut steps)
                .await
        {
            let reason = unrestored.reason;
            let lost = format!(
                "case {} (attempt {attempt}) did not restore the device: {reason}",
                planned.case.id()
            );
            self.shared.log(
                LogLevel::Warn,
                &self.device_id(),
                format!(
                    "{}: {lost}; its remaining cases are blocked",
                    self.device_id()
                ),
            );
            let note = format!("device state not restored: {reason}");
            detail = if detail.is_empty() {
                note
            } else {
                format!("{detail}; {note}")
            };
            self.state_lost = Some(lost);
            if unrestored.device_wrong && status == CaseStatus::Passed {
                // The device answered the restore wrongly: its defect, judged like any step.
                status = CaseStatus::Failed;
            }
        }
        let mut traffic = capture.map(|c: Capture| c.take()).unwrap_or_default();
        traffic.extend(self.finish_optical());
        let finished_at = wall_clock();
        self.seal(
            planned,
            attempt,
            status,
            detail,
            steps,
            traffic,
            (started_at, finished_at, started.elapsed()),
        )
    }

    async fn steps(
        &mut self,
        planned: &PlannedCase,
        attempt: u32,
        lease: &Lease,
        case_deadline: Instant,
        (steps, capture, started_script): (
            &mut Vec<StepRecord>,
            &mut Option<Capture>,
            &mut Option<Box<dyn CaseAttempt>>,
        ),
    ) -> (CaseStatus, String) {
        if let Err(error) = lease.renew() {
            return (CaseStatus::Blocked, error.to_string());
        }
        let open_budget = self.budget(case_deadline).0;
        if let Err(error) = self.ensure_session(open_budget).await {
            *capture = self.last_capture.take();
            return (CaseStatus::Blocked, error.text);
        }
        *capture = self.open.as_ref().map(|open| open.capture.clone());
        let script: &mut Box<dyn CaseAttempt> = started_script
            .insert(Arc::clone(&planned.case).start(&self.target.device, utc_now_ms()));
        for index in 0u32.. {
            if index > 0
                && let Err(error) = lease.renew()
            {
                return (CaseStatus::Blocked, error.to_string());
            }
            if let Some(wait) = script.next_wait() {
                let (record, stop) = self.wait(index, wait, case_deadline).await;
                self.shared.report(RunEventKind::StepFinished {
                    case_id: planned.case.id().to_owned(),
                    device_id: self.device_id(),
                    attempt,
                    step_index: index,
                    ok: record.status == CaseStatus::Passed,
                    detail: record.detail.clone(),
                    elapsed: record.elapsed,
                });
                steps.push(record);
                if let Some(stop) = stop {
                    return stop;
                }
                continue;
            }
            let (srv, request) = match script.next_request(utc_now_ms()) {
                None => return (CaseStatus::Passed, String::new()),
                Some(Err(reason)) => {
                    return (
                        CaseStatus::Blocked,
                        format!("step {} could not be built: {reason}", index + 1),
                    );
                }
                Some(Ok(next)) => next,
            };
            let (budget, limit) = self.budget(case_deadline);
            let step_started = Instant::now();
            let port = script.port();
            let executed = match port {
                Port::Run => self.execute(&request, budget, limit).await,
                Port::Optical => match self.ensure_optical_session(budget).await {
                    Ok(()) => {
                        let budget = self.budget(case_deadline).0;
                        self.execute_on(port, &request, budget, limit).await
                    }
                    Err(error) => Err(error),
                },
            };
            let elapsed = step_started.elapsed();
            let (record, stop) = match executed {
                Err(error) => {
                    let error = error.text;
                    let detail = format!("step {} ({srv}): {error}", index + 1);
                    let record = StepRecord {
                        index,
                        srv: srv.clone(),
                        request: Some(request),
                        response: None,
                        error: Some(error),
                        checks: Vec::new(),
                        status: CaseStatus::Blocked,
                        detail: detail.clone(),
                        elapsed,
                    };
                    (record, Some((CaseStatus::Blocked, detail)))
                }
                Ok(response) => {
                    // Alerts raised during the step count for its expectations.
                    self.drain_alerts_into(Some(&mut **script));
                    let judged = judge(index, &srv, request, response, &mut **script, elapsed);
                    if judged.0.status == CaseStatus::Blocked {
                        // After a timeout, link failure or adapter fault the session's state is
                        // suspect: the next attempt starts afresh.
                        self.close_port(port, &judged.0.detail);
                    }
                    judged
                }
            };
            self.drain_alerts();
            self.shared.report(RunEventKind::StepFinished {
                case_id: planned.case.id().to_owned(),
                device_id: self.device_id(),
                attempt,
                step_index: index,
                ok: record.status == CaseStatus::Passed,
                detail: record.detail.clone(),
                elapsed,
            });
            steps.push(record);
            if let Some(stop) = stop {
                return stop;
            }
        }
        (CaseStatus::Passed, String::new())
    }

    /// A wait step: lets `wait` pass on the runner's clock when the case (and run) timeout
    /// leave that much; otherwise ends the attempt `blocked` at once — waiting into the timeout
    /// could not make the case pass. Cancellation ends the wait.
    async fn wait(
        &mut self,
        index: u32,
        wait: Duration,
        case_deadline: Instant,
    ) -> (StepRecord, Option<(CaseStatus, String)>) {
        let started = Instant::now();
        let left = case_deadline.saturating_duration_since(started);
        let limit = if case_deadline >= self.shared.run_deadline {
            "run"
        } else {
            "case"
        };
        let mut cancel = self.cancel.clone();
        let blocked = if wait > left {
            Some(format!(
                "step {} (wait): waiting {} ms would outlast the {limit} timeout ({} ms left)",
                index + 1,
                wait.as_millis(),
                left.as_millis()
            ))
        } else {
            tokio::select! {
                () = tokio::time::sleep(wait) => None,
                _ = cancel.wait_for(|cancelled| *cancelled) => Some(format!(
                    "step {} (wait): the run was cancelled during the wait",
                    index + 1
                )),
            }
        };
        let status = if blocked.is_some() {
            CaseStatus::Blocked
        } else {
            CaseStatus::Passed
        };
        let detail = blocked.clone().unwrap_or_default();
        let record = StepRecord {
            index,
            srv: "wait".to_owned(),
            request: None,
            response: None,
            error: blocked.clone(),
            checks: Vec::new(),
            status,
            detail: detail.clone(),
            elapsed: started.elapsed(),
        };
        (record, blocked.map(|detail| (CaseStatus::Blocked, detail)))
    }

    /// The time a step may take, and which level of the hierarchy limits it.
    fn budget(&self, case_deadline: Instant) -> (Duration, &'static str) {
        let now = Instant::now();
        let step = self.shared.settings.timeouts.step;
        let case_left = case_deadline.saturating_duration_since(now);
        if step <= case_left {
            (step, "step")
        } else if case_deadline >= self.shared.run_deadline {
            (case_left, "run")
        } else {
            (case_left, "case")
        }
    }
}

/// Judges a response and builds its step record; `Some` when the case stops here.
fn judge(
    index: u32,
    srv: &str,
    request: ServiceRequest,
    response: ServiceResponse,
    script: &mut dyn CaseAttempt,
    elapsed: Duration,
) -> (StepRecord, Option<(CaseStatus, String)>) {
    let judgement = script.judge(&response);
    let (status, checks, detail) = match judgement {
        Judgement::Passed { checks } => (CaseStatus::Passed, checks, String::new()),
        Judgement::Failed { checks, detail } => (
            CaseStatus::Failed,
            checks,
            format!("step {} ({srv}): {detail}", index + 1),
        ),
        Judgement::Blocked { reason } => (
            CaseStatus::Blocked,
            Vec::new(),
            format!("step {} ({srv}): {reason}", index + 1),
        ),
    };
    let stop = (status != CaseStatus::Passed).then(|| (status, detail.clone()));
    let record = StepRecord {
        index,
        srv: srv.to_owned(),
        request: Some(request),
        response: Some(response),
        error: None,
        checks,
        status,
        detail,
        elapsed,
    };
    (record, stop)
}

/// Whether the attempt's capture holds bytes sent to the device.
fn transmitted(capture: Option<&Capture>) -> bool {
    capture.is_some_and(|capture| capture.carried(meterlab_link::Direction::Tx))
}
