//! The session side of a device worker: open a session when none is usable, execute one
//! request against the step budget and cancellation, close it after trouble, the health check.

use std::time::Duration;

use meterlab_plugin::pb::{ServiceRequest, ServiceResponse};
use meterlab_plugin_host::{CloseOutcome, Session, SessionError};
use tokio::time::Instant;

use super::{DeviceWorker, ExecError, Open, utc_now_ms};
use crate::case::{CaseAttempt, Port};
use crate::event::{DeviceHealth, LogLevel};
use crate::health;
use crate::target::Connector;

impl<C: Connector> DeviceWorker<C> {
    /// Executes a request on the open session, racing cancellation. On any error the session is
    /// dropped (its adapter state is unknown); the next step or attempt opens a new one.
    pub(super) async fn execute(
        &mut self,
        request: &ServiceRequest,
        budget: Duration,
        limit: &'static str,
    ) -> Result<ServiceResponse, ExecError> {
        self.execute_on(Port::Run, request, budget, limit).await
    }

    /// [`Self::execute`] on the session of `port` (the run's own, or the optical one).
    pub(super) async fn execute_on(
        &mut self,
        port: Port,
        request: &ServiceRequest,
        budget: Duration,
        limit: &'static str,
    ) -> Result<ServiceResponse, ExecError> {
        if budget.is_zero() {
            return Err(ExecError::infrastructure(format!(
                "the {limit} timeout elapsed before the step started"
            )));
        }
        let slot = match port {
            Port::Run => &mut self.open,
            Port::Optical => &mut self.optical,
        };
        let Some(open) = slot.as_mut() else {
            return Err(ExecError::infrastructure("no session".to_owned()));
        };
        let outcome = tokio::select! {
            outcome = open.session.execute(request, budget) => outcome,
            () = &mut self.cancelled => {
                self.close_port(port, "the run was cancelled");
                return Err(ExecError::infrastructure(
                    "the run was cancelled during the step".to_owned(),
                ));
            }
        };
        match outcome {
            Ok(response) => Ok(response),
            Err(error) => {
                let text = match &error {
                    SessionError::DeadlineExceeded { deadline_ms, .. } => {
                        format!("{limit} timeout: no response within {deadline_ms} ms")
                    }
                    other => other.to_string(),
                };
                self.close_port(port, &text);
                Err(ExecError {
                    text,
                    adapter_fault: matches!(
                        error,
                        SessionError::AdapterFault { .. }
                            | SessionError::OpenRefused { .. }
                            | SessionError::WorkerStart { .. }
                    ),
                })
            }
        }
    }

    pub(super) fn close_session(&mut self, why: &str) {
        if let Some(open) = self.open.take() {
            open.capture.note(format!("session ended: {why}"));
            self.last_capture = Some(open.capture.clone());
            drop(open.session.close());
        }
    }

    /// After the device's last case: the adapter gives back what the device holds for the
    /// session (a DLMS adapter releases its association) within two exchanges, bounded by the
    /// run's deadline, so the device does not keep it until its inactivity time-out. A
    /// cancelled run closes at once.
    pub(super) async fn finish_session(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        let budget = self
            .shared
            .settings
            .timeouts
            .exchange
            .saturating_mul(2)
            .min(
                self.shared
                    .run_deadline
                    .saturating_duration_since(Instant::now()),
            );
        if *self.cancel.borrow() || budget.is_zero() || !open.session.is_open() {
            drop(open.session.close());
            return;
        }
        let device = self.device_id();
        let (_link, outcome) = open.session.close_gracefully(budget).await;
        let (level, message) = match outcome {
            CloseOutcome::Closed => (LogLevel::Debug, "session closed by the adapter".to_owned()),
            CloseOutcome::NotAnswered | CloseOutcome::AlreadyEnded => {
                (LogLevel::Debug, "session closed".to_owned())
            }
            CloseOutcome::BudgetExceeded { budget_ms } => (
                LogLevel::Warn,
                format!(
                    "the adapter did not finish closing the session within {budget_ms} ms: \
                     the device may keep it until its inactivity time-out"
                ),
            ),
            CloseOutcome::Failed { reason } => (
                LogLevel::Warn,
                format!("closing the session failed: {reason}"),
            ),
        };
        self.shared
            .log(level, &device, format!("{device}: {message}"));
    }

    pub(super) fn drain_alerts(&mut self) {
        self.drain_alerts_into(None);
    }

    /// Logs the alerts the session received and hands them to the running case attempt, which
    /// judges steps expecting `alerts` against them.
    pub(super) fn drain_alerts_into(&mut self, mut attempt: Option<&mut dyn CaseAttempt>) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let alerts = open.session.take_alerts();
        if alerts.is_empty() {
            // Twice per step, nearly always with nothing to log: no device id built for it.
            return;
        }
        let device = self.device_id();
        for alert in alerts {
            if let Some(attempt) = attempt.as_deref_mut() {
                attempt.record_alert(&alert.code);
            }
            self.shared.log(
                LogLevel::Info,
                &device,
                format!("device alert {}: {}", alert.code, alert.message),
            );
        }
    }

    /// Opens a session unless one is open.
    pub(super) async fn ensure_session(&mut self, budget: Duration) -> Result<(), ExecError> {
        if self
            .open
            .as_ref()
            .is_some_and(|open| open.session.is_open())
        {
            return Ok(());
        }
        self.close_session("closed before a new session");
        if budget.is_zero() {
            return Err(ExecError::infrastructure(
                "the case timeout elapsed before a session could be opened".to_owned(),
            ));
        }
        let connected = tokio::time::timeout(budget, self.shared.connector.connect(&self.target))
            .await
            .map_err(|_| {
                ExecError::infrastructure(format!(
                    "connecting took longer than {} ms",
                    budget.as_millis()
                ))
            })?
            .map_err(|error| ExecError::infrastructure(error.to_string()))?;
        self.sessions_opened += 1;
        let mut config = self.target.session.clone();
        config.session_id = format!(
            "{}/{}/{}",
            self.shared.run_id,
            self.target.id(),
            self.sessions_opened
        );
        config
            .parameters
            .entry("association_timeout_ms".to_owned())
            .or_insert_with(|| {
                self.shared
                    .settings
                    .timeouts
                    .exchange
                    .as_millis()
                    .to_string()
            });
        let capture = connected.capture;
        let opened = tokio::time::timeout(
            budget,
            Session::open(&self.shared.plugin, &config, connected.link),
        )
        .await;
        match opened {
            Ok(Ok(session)) => {
                self.open = Some(Open { session, capture });
                Ok(())
            }
            Ok(Err(error)) => {
                self.last_capture = Some(capture);
                Err(ExecError {
                    text: format!("cannot open an adapter session: {error}"),
                    adapter_fault: matches!(
                        error,
                        SessionError::AdapterFault { .. }
                            | SessionError::OpenRefused { .. }
                            | SessionError::WorkerStart { .. }
                    ),
                })
            }
            Err(_) => {
                self.last_capture = Some(capture);
                Err(ExecError::infrastructure(format!(
                    "opening the adapter session took longer than {} ms",
                    budget.as_millis()
                )))
            }
        }
    }

    pub(super) async fn check(&mut self) -> DeviceHealth {
        let budget = self.shared.settings.timeouts.step;
        let device = self.device_id();
        if let Err(error) = self.ensure_session(budget).await {
            // An adapter that faults is not the device's health: its cases will be blocked.
            return DeviceHealth {
                device_id: device,
                healthy: error.adapter_fault,
                firmware: None,
                clock_skew_ms: None,
                reason: Some(error.text),
            };
        }
        let mut reads = health::Reads::default();
        // A read the line lost is tried again as a case would be (`--retries`): on a lossy
        // line one lost frame must not take a device and all its cases out of the run.
        let attempts = self.shared.settings.retry.retries.saturating_add(1);
        'requests: for request in health::requests(&self.target, utc_now_ms()) {
            let mut attempt = 0;
            loop {
                attempt += 1;
                if let Err(error) = self.ensure_session(budget).await {
                    reads.record(&request, Err(error), utc_now_ms(), utc_now_ms());
                    break 'requests;
                }
                let sent_at = utc_now_ms();
                let outcome = self.execute(&request, budget, "step").await;
                if attempt < attempts && health::lost_on_the_line(&outcome) {
                    continue;
                }
                reads.record(&request, outcome, sent_at, utc_now_ms());
                break;
            }
        }
        self.drain_alerts();
        if let Some(open) = &self.open {
            // The check's traffic is not a case's evidence.
            drop(open.capture.take());
        }
        reads.into_health(device)
    }
}
