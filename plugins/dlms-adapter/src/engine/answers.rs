//! What the device's answers mean for the outstanding operation: association results,
//! GET/SET/ACTION results, exceptions, local failures, and notifications (alerts).

use meterlab_dlms::apdu::notification::StateError;
use meterlab_dlms::apdu::{AcseDiagnostic, DataAccessResult, ServiceError};
use meterlab_dlms::association::ClientEvent;
use meterlab_dlms::axdr::Data;
use meterlab_plugin::pb::{Alert, AlertSeverity};

use super::{Engine, Failure, Op, Outcome, Progress};

impl Engine {
    pub(super) fn finish(&mut self, progress: &mut Progress, result: Result<Outcome, Failure>) {
        if let Some(pending) = self.pending.take() {
            if let (Ok(Outcome::Associated), Op::Associate(credentials)) = (&result, &pending.op) {
                self.associated_as = Some(credentials.clone());
            }
            if let (Ok(Outcome::Done), Op::Release) = (&result, &pending.op) {
                self.associated_as = None;
            }
            progress.finished = Some(result);
        }
    }

    fn pending_invoke(&self) -> Option<u8> {
        self.pending.as_ref().and_then(|pending| pending.invoke_id)
    }

    fn refused(&self, code: u32, why: String) -> Outcome {
        let what = self
            .pending
            .as_ref()
            .map_or_else(|| "the request".to_owned(), |pending| pending.op.describe());
        Outcome::Refused {
            code,
            reason: format!("{what}: {why}"),
        }
    }

    pub(super) fn association_event(
        &mut self,
        event: ClientEvent,
        now_ms: u64,
        in_timeout: bool,
        link_down: Option<&str>,
        progress: &mut Progress,
    ) {
        match event {
            ClientEvent::Associated { .. } => self.finish(progress, Ok(Outcome::Associated)),
            ClientEvent::Rejected {
                result, diagnostic, ..
            } => {
                let code = match diagnostic {
                    AcseDiagnostic::User(code) | AcseDiagnostic::Provider(code) => u32::from(code),
                };
                let outcome =
                    self.refused(code, format!("association {result:?} ({diagnostic:?})"));
                self.finish(progress, Ok(outcome));
            }
            ClientEvent::AuthenticationFailed { reason } => {
                let outcome = self.refused(0, format!("HLS authentication failed: {reason}"));
                self.finish(progress, Ok(outcome));
            }
            ClientEvent::GetCompleted { invoke_id, result } => {
                if Some(invoke_id) == self.pending_invoke() {
                    let outcome = match result {
                        Ok(value) => Outcome::Value(value),
                        Err(code) => self.refused(u32::from(code.code()), format!("{code:?}")),
                    };
                    self.finish(progress, Ok(outcome));
                }
            }
            ClientEvent::SetCompleted { invoke_id, result }
            | ClientEvent::ActionCompleted {
                invoke_id, result, ..
            } => {
                if Some(invoke_id) == self.pending_invoke() {
                    let outcome = if result == DataAccessResult::Success {
                        Outcome::Done
                    } else {
                        self.refused(u32::from(result.code()), format!("{result:?}"))
                    };
                    self.finish(progress, Ok(outcome));
                }
            }
            ClientEvent::GetListCompleted { .. } => {
                progress
                    .logs
                    .push("unexpected GET-with-list response ignored".to_owned());
            }
            ClientEvent::Released => {
                if matches!(self.pending.as_ref().map(|p| &p.op), Some(Op::Release)) {
                    self.finish(progress, Ok(Outcome::Done));
                }
            }
            ClientEvent::EventNotification(notification) => {
                let value = notification_value(&notification.value);
                progress.alerts.push(Alert {
                    severity: AlertSeverity::Warning.into(),
                    code: value.clone(),
                    message: format!(
                        "event notification from {}/{} attribute {}: {value}",
                        notification.attribute.class_id,
                        notification.attribute.instance,
                        notification.attribute.attribute_id
                    ),
                });
            }
            ClientEvent::DataNotification(notification) => {
                progress.alerts.push(Alert {
                    severity: AlertSeverity::Info.into(),
                    code: format!(
                        "data-notification-{}",
                        notification.long_invoke_id_and_priority & 0x00FF_FFFF
                    ),
                    message: format!("data notification: {:?}", notification.body),
                });
            }
            ClientEvent::Exception { response, .. }
                if response.state_error == StateError::ServiceNotAllowed
                    && response.service_error == ServiceError::OperationNotPossible =>
            {
                let what = self
                    .pending
                    .as_ref()
                    .map_or_else(|| "the request".to_owned(), |pending| pending.op.describe());
                self.finish(
                    progress,
                    Err(Failure::NotAssociated(format!(
                        "{what}: the device answered that no association is open"
                    ))),
                );
            }
            ClientEvent::Exception { response, .. } => {
                let outcome = self.refused(
                    u32::from(response.state_error.code()),
                    format!(
                        "exception {:?} / {:?}",
                        response.state_error, response.service_error
                    ),
                );
                self.finish(progress, Ok(outcome));
            }
            ClientEvent::OperationFailed { reason, .. } => {
                let Some(pending) = self.pending.as_ref() else {
                    progress
                        .logs
                        .push(format!("operation failed with none outstanding: {reason}"));
                    return;
                };
                let failure = if in_timeout {
                    Failure::Timeout {
                        elapsed_ms: now_ms.saturating_sub(pending.started_ms),
                        waiting_for: format!("the answer to {}", pending.op.describe()),
                    }
                } else if let Some(link) = link_down {
                    Failure::Link(format!("the transport link went down ({link}): {reason}"))
                } else {
                    Failure::Link(format!("{} failed: {reason}", pending.op.describe()))
                };
                self.finish(progress, Err(failure));
            }
        }
    }
}

/// An alert code from a notified value: the event code number when it is one.
fn notification_value(value: &Data) -> String {
    match value.as_integer() {
        Some(number) => number.to_string(),
        None => format!("{value:?}"),
    }
}
