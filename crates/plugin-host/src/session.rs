//! The session driver: feeds host events to an adapter and performs its actions over a link,
//! with timers on tokio's clock and an overall deadline per service request.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use meterlab_plugin::pb::{
    Alert, BytesReceived, Execute, HostEvent, LinkClosed, LinkOpened, LogLevel, ServiceRequest,
    ServiceResponse, SessionConfig, TimerFired, action, host_event,
};
use tokio::time::Instant;

use crate::error::{Fault, SessionError};
use crate::link::LinkIo;
use crate::plugin::{Plugin, RawSession};

/// Bytes read from the link per `BytesReceived` event at most.
const RECV_CHUNK: usize = 4096;

/// One adapter session on one link. Requests run one at a time (`&mut self`).
///
/// The session ends (the adapter is closed and every later call returns
/// [`SessionError::Ended`]) when the adapter faults, when a request exceeds its deadline (the
/// adapter's exchange state is then unknown), or when the link is closed.
#[derive(Debug)]
pub struct Session<L> {
    raw: Option<RawSession>,
    plugin: Arc<Plugin>,
    link: L,
    epoch: Instant,
    timers: HashMap<u64, Instant>,
    alerts: Vec<Alert>,
    link_closed: Option<String>,
    /// Receive buffer, kept for the session's life (not allocated per request).
    recv_buf: Vec<u8>,
}

impl<L: LinkIo> Session<L> {
    /// Opens an adapter session on `link` and tells the adapter the link is open.
    pub async fn open(
        plugin: &Arc<Plugin>,
        config: &SessionConfig,
        link: L,
    ) -> Result<Self, SessionError> {
        let raw = plugin.open_raw_async(config).await?;
        let mut session = Session {
            raw: Some(raw),
            plugin: Arc::clone(plugin),
            link,
            epoch: Instant::now(),
            timers: HashMap::new(),
            alerts: Vec::new(),
            link_closed: None,
            recv_buf: vec![0u8; RECV_CHUNK],
        };
        let opened = host_event::Event::LinkOpened(LinkOpened {});
        if session
            .run_events(VecDeque::from([opened]), None)
            .await?
            .is_some()
        {
            return Err(session.end_with_fault("completed a request before any was sent"));
        }
        Ok(session)
    }

    /// Executes one service request, returning the adapter's response (which may itself carry a
    /// typed device error), or why the session could not produce one within `deadline`.
    pub async fn execute(
        &mut self,
        request: ServiceRequest,
        deadline: Duration,
    ) -> Result<ServiceResponse, SessionError> {
        if self.raw.is_none() {
            return Err(SessionError::Ended);
        }
        if let Some(reason) = &self.link_closed {
            return Err(SessionError::LinkClosed {
                reason: reason.clone(),
            });
        }
        let request_id = request.request_id.clone();
        let deadline_at = Instant::now() + deadline;
        let outcome =
            tokio::time::timeout_at(deadline_at, self.run_request(request, &request_id)).await;
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => {
                self.end();
                Err(error)
            }
            Err(_elapsed) => {
                tracing::warn!(
                    plugin = self.plugin.id(),
                    request_id,
                    "request deadline exceeded"
                );
                self.end();
                Err(SessionError::DeadlineExceeded {
                    request_id,
                    deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
                })
            }
        }
    }

    /// Alerts the adapter raised so far, oldest first.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    /// Whether the session can still execute requests.
    pub fn is_open(&self) -> bool {
        self.raw.is_some() && self.link_closed.is_none()
    }

    pub fn link(&self) -> &L {
        &self.link
    }

    /// Closes the adapter session and returns the link.
    pub fn close(mut self) -> L {
        self.end();
        self.link
    }

    fn end(&mut self) {
        self.raw = None;
        self.timers.clear();
    }

    fn end_with_fault(&mut self, detail: &str) -> SessionError {
        self.end();
        self.plugin.fault(Fault::Protocol {
            detail: detail.to_owned(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn run_request(
        &mut self,
        request: ServiceRequest,
        request_id: &str,
    ) -> Result<ServiceResponse, SessionError> {
        let execute = host_event::Event::Execute(Execute {
            request: Some(request),
        });
        let mut pending = VecDeque::from([execute]);
        loop {
            if let Some(response) = self.run_events(pending, Some(request_id)).await? {
                return Ok(response);
            }
            pending = VecDeque::new();
            let next_timer = self
                .timers
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(id, at)| (*id, *at));
            if self.link_closed.is_some() && next_timer.is_none() {
                return Err(SessionError::LinkClosed {
                    reason: self.link_closed.clone().unwrap_or_default(),
                });
            }
            let link_open = self.link_closed.is_none();
            let timer_at = next_timer.map_or_else(Instant::now, |(_, at)| at);
            tokio::select! {
                () = tokio::time::sleep_until(timer_at), if next_timer.is_some() => {
                    if let Some((timer_id, _)) = next_timer {
                        self.timers.remove(&timer_id);
                        pending.push_back(host_event::Event::TimerFired(TimerFired { timer_id }));
                    }
                }
                received = self.link.recv(&mut self.recv_buf), if link_open => match received {
                    Ok(0) => pending.push_back(self.link_down("the peer closed the link".to_owned())),
                    Ok(n) => pending.push_back(host_event::Event::BytesReceived(BytesReceived {
                        data: self.recv_buf[..n].to_vec(),
                    })),
                    Err(error) => pending.push_back(self.link_down(format!("receive failed: {error}"))),
                },
            }
        }
    }

    fn link_down(&mut self, reason: String) -> host_event::Event {
        tracing::info!(plugin = self.plugin.id(), %reason, "link closed");
        self.link_closed = Some(reason.clone());
        host_event::Event::LinkClosed(LinkClosed { reason })
    }

    /// Feeds `events` (and any events their actions cause) to the adapter, performing actions.
    async fn run_events(
        &mut self,
        mut events: VecDeque<host_event::Event>,
        outstanding: Option<&str>,
    ) -> Result<Option<ServiceResponse>, SessionError> {
        let mut response = None;
        while let Some(event) = events.pop_front() {
            let now_ms = self.now_ms();
            let raw = self.raw.as_mut().ok_or(SessionError::Ended)?;
            let actions = raw.handle_async(&HostEvent::new(now_ms, event)).await?;
            for action in actions.actions.into_iter().filter_map(|a| a.action) {
                self.perform(action, outstanding, &mut response, &mut events)
                    .await?;
            }
        }
        Ok(response)
    }

    async fn perform(
        &mut self,
        action: action::Action,
        outstanding: Option<&str>,
        response_slot: &mut Option<ServiceResponse>,
        events: &mut VecDeque<host_event::Event>,
    ) -> Result<(), SessionError> {
        let plugin = self.plugin.id();
        match action {
            action::Action::Transmit(transmit) => {
                if self.link_closed.is_some() {
                    tracing::debug!(plugin, "transmit dropped: link closed");
                } else if let Err(error) = self.link.send(&transmit.data).await {
                    events.push_back(self.link_down(format!("send failed: {error}")));
                }
            }
            action::Action::SetTimer(timer) => {
                let at = self.epoch
                    + Duration::from_millis(self.now_ms().saturating_add(timer.delay_ms));
                self.timers.insert(timer.timer_id, at);
            }
            action::Action::CancelTimer(timer) => {
                self.timers.remove(&timer.timer_id);
            }
            action::Action::ReconfigureLink(settings) => {
                if self.link_closed.is_none() {
                    self.link
                        .reconfigure(&settings)
                        .await
                        .map_err(|cause| SessionError::Link {
                            operation: "reconfigure",
                            cause,
                        })?;
                }
            }
            action::Action::FlushInput(_) => {
                if self.link_closed.is_none() {
                    self.link
                        .flush_input()
                        .await
                        .map_err(|cause| SessionError::Link {
                            operation: "flush input",
                            cause,
                        })?;
                }
            }
            action::Action::Complete(complete) => {
                let response = complete.response.unwrap_or_default();
                match outstanding {
                    _ if response_slot.is_some() => {
                        return Err(self.end_with_fault("completed the same request twice"));
                    }
                    Some(id) if id == response.request_id => *response_slot = Some(response),
                    Some(id) => {
                        let detail = format!(
                            "completed request {:?} while {id:?} was outstanding",
                            response.request_id
                        );
                        return Err(self.end_with_fault(&detail));
                    }
                    None => {
                        return Err(
                            self.end_with_fault("completed a request while none was outstanding")
                        );
                    }
                }
            }
            action::Action::Alert(alert) => {
                tracing::info!(
                    plugin,
                    code = alert.code,
                    message = alert.message,
                    "device alert"
                );
                self.alerts.push(alert);
            }
            action::Action::Log(log) => log_from_plugin(plugin, log.level(), &log.message),
        }
        Ok(())
    }
}

fn log_from_plugin(plugin: &str, level: LogLevel, message: &str) {
    match level {
        LogLevel::Error => tracing::error!(plugin, "{message}"),
        LogLevel::Warn => tracing::warn!(plugin, "{message}"),
        LogLevel::Info | LogLevel::Unspecified => tracing::info!(plugin, "{message}"),
        LogLevel::Debug => tracing::debug!(plugin, "{message}"),
        LogLevel::Trace => tracing::trace!(plugin, "{message}"),
    }
}
