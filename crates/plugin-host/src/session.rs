//! The session driver: feeds host events to an adapter and performs its actions over a link,
//! with timers on tokio's clock and an overall deadline per service request.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use meterlab_plugin::pb::{
    AdapterActions, Alert, CloseSession, HostEvent, LinkClosed, LinkOpened, LogLevel,
    ServiceRequest, ServiceResponse, SessionConfig, TimerFired, action, host_event,
};
use tokio::time::{Instant, Sleep};

use crate::error::{Fault, SessionError};
use crate::link::LinkIo;
use crate::plugin::{Plugin, RawSession};

/// Bytes read from the link per `BytesReceived` event at most.
const RECV_CHUNK: usize = 4096;

/// What the adapter hears next: an event, or bytes the link delivered into the session's
/// receive buffer (encoded for the adapter from there, never copied into an owned event).
#[derive(Debug)]
enum Incoming<'r> {
    Event(host_event::Event),
    Received(usize),
    /// `Execute` of a request the caller keeps (encoded from the borrow, not cloned).
    Execute(&'r ServiceRequest),
}

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
    /// The one sleep every wait for the adapter's next timer uses, reset per wait. A sleep
    /// made per wait entered and left tokio's timer wheel at every exchange (`clear_entry`
    /// under the driver's lock); a reset to a later time only moves its deadline.
    timer_sleep: Pin<Box<Sleep>>,
    /// Likewise for the request deadline; `None` while a request holds it (or after one was
    /// dropped mid-way: the next request makes a new one).
    deadline_sleep: Option<Pin<Box<Sleep>>>,
    /// The adapter's actions of the last call, decoded into the same list every call.
    actions: AdapterActions,
    /// Actions performed so far: a graceful close tells an adapter that answered its
    /// `CloseSession` with nothing from one that is busy closing.
    actions_performed: u64,
    /// The adapter answered `SessionClosed`.
    adapter_closed: bool,
}

/// How [`Session::close_gracefully`] ended. The link is handed back in every case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    /// The adapter finished closing (it answered `SessionClosed`).
    Closed,
    /// The adapter answered `CloseSession` with no action at all: it does not know the event
    /// (built before it existed) or had nothing to give back.
    NotAnswered,
    /// The budget ended before the adapter finished; the device may keep what it held.
    BudgetExceeded { budget_ms: u64 },
    /// The session had already ended (fault, request deadline, link closed): nothing was sent.
    AlreadyEnded,
    /// The adapter faulted or the link went down while closing.
    Failed { reason: String },
}

impl<L: LinkIo> Session<L> {
    /// Opens an adapter session on `link` and tells the adapter the link is open.
    pub async fn open(
        plugin: &Arc<Plugin>,
        config: &SessionConfig,
        link: L,
    ) -> Result<Self, SessionError> {
        let raw = plugin.open_raw_async(config).await?;
        let epoch = Instant::now();
        let mut session = Session {
            raw: Some(raw),
            plugin: Arc::clone(plugin),
            link,
            epoch,
            timers: HashMap::new(),
            alerts: Vec::new(),
            link_closed: None,
            recv_buf: vec![0u8; RECV_CHUNK],
            timer_sleep: Box::pin(tokio::time::sleep_until(epoch)),
            deadline_sleep: None,
            actions: AdapterActions::default(),
            actions_performed: 0,
            adapter_closed: false,
        };
        let opened = host_event::Event::LinkOpened(LinkOpened {});
        if session
            .run_events(Incoming::Event(opened), None)
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
        request: &ServiceRequest,
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
        let deadline_at = Instant::now() + deadline;
        let mut deadline_sleep = match self.deadline_sleep.take() {
            Some(mut sleep) => {
                sleep.as_mut().reset(deadline_at);
                sleep
            }
            None => Box::pin(tokio::time::sleep_until(deadline_at)),
        };
        // `timeout_at` without a timer entry per request: the request is polled first, as
        // `timeout_at` does, so a response ready at the deadline is still taken.
        let outcome = tokio::select! {
            biased;
            outcome = self.run_request(request) => Ok(outcome),
            () = deadline_sleep.as_mut() => Err(()),
        };
        self.deadline_sleep = Some(deadline_sleep);
        match outcome {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => {
                self.end();
                Err(error)
            }
            Err(_elapsed) => {
                let request_id = request.request_id.clone();
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

    /// Closes the adapter session at once and returns the link. The adapter is not asked to
    /// give anything back: a device keeps its association until its own inactivity time-out.
    /// [`Session::close_gracefully`] asks first.
    pub fn close(mut self) -> L {
        self.end();
        self.link
    }

    /// Asks the adapter to close (`CloseSession`: a DLMS adapter releases its association),
    /// performs its transmits and timers until it answers `SessionClosed` or `budget` ends,
    /// then closes the adapter session and returns the link with how it went. An adapter that
    /// answers nothing (one that does not know the event) costs no waiting; one that never
    /// finishes costs `budget` at most.
    pub async fn close_gracefully(mut self, budget: Duration) -> (L, CloseOutcome) {
        let outcome = if self.raw.is_none() || self.link_closed.is_some() {
            CloseOutcome::AlreadyEnded
        } else {
            match tokio::time::timeout(budget, self.run_close()).await {
                Ok(Ok(outcome)) => outcome,
                Ok(Err(error)) => CloseOutcome::Failed {
                    reason: error.to_string(),
                },
                Err(_elapsed) => {
                    tracing::info!(
                        plugin = self.plugin.id(),
                        budget_ms = budget.as_millis(),
                        "the adapter did not finish closing within the budget"
                    );
                    CloseOutcome::BudgetExceeded {
                        budget_ms: u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                    }
                }
            }
        };
        self.end();
        (self.link, outcome)
    }

    async fn run_close(&mut self) -> Result<CloseOutcome, SessionError> {
        let before = self.actions_performed;
        self.adapter_closed = false;
        let close = host_event::Event::CloseSession(CloseSession {});
        self.run_events(Incoming::Event(close), None).await?;
        if self.actions_performed == before {
            return Ok(CloseOutcome::NotAnswered);
        }
        while !self.adapter_closed {
            let next = self.next_event().await?;
            self.run_events(next, None).await?;
        }
        Ok(CloseOutcome::Closed)
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
        request: &ServiceRequest,
    ) -> Result<ServiceResponse, SessionError> {
        let mut next = Incoming::Execute(request);
        loop {
            if let Some(response) = self.run_events(next, Some(&request.request_id)).await? {
                return Ok(response);
            }
            next = self.next_event().await?;
        }
    }

    /// Waits for the next thing the adapter must hear of: a timer firing, bytes from the link,
    /// or the link going down. With the link closed and no timer armed nothing can come.
    async fn next_event(&mut self) -> Result<Incoming<'static>, SessionError> {
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
        if let Some((_, at)) = next_timer
            && at != self.timer_sleep.deadline()
        {
            self.timer_sleep.as_mut().reset(at);
        }
        tokio::select! {
            () = self.timer_sleep.as_mut(), if next_timer.is_some() => {
                let timer_id = next_timer.map_or(0, |(id, _)| id);
                self.timers.remove(&timer_id);
                Ok(Incoming::Event(host_event::Event::TimerFired(TimerFired { timer_id })))
            }
            received = self.link.recv(&mut self.recv_buf), if link_open => Ok(match received {
                Ok(0) => Incoming::Event(self.link_down("the peer closed the link".to_owned())),
                Ok(n) => Incoming::Received(n),
                Err(error) => Incoming::Event(self.link_down(format!("receive failed: {error}"))),
            }),
        }
    }

    fn link_down(&mut self, reason: String) -> host_event::Event {
        tracing::info!(plugin = self.plugin.id(), %reason, "link closed");
        self.link_closed = Some(reason.clone());
        host_event::Event::LinkClosed(LinkClosed { reason })
    }

    /// Feeds `first` (and any events its actions cause) to the adapter, performing actions.
    async fn run_events(
        &mut self,
        first: Incoming<'_>,
        outstanding: Option<&str>,
    ) -> Result<Option<ServiceResponse>, SessionError> {
        let mut response = None;
        // Events the actions cause (a failed send closes the link): rare, so not allocated
        // until one comes.
        let mut events = VecDeque::new();
        let mut next = Some(first);
        while let Some(incoming) = next
            .take()
            .or_else(|| events.pop_front().map(Incoming::Event))
        {
            let now_ms = self.now_ms();
            // The list is taken out while its actions are performed (they need `&mut self`)
            // and put back after, keeping its allocation for the next call.
            let mut actions = std::mem::take(&mut self.actions);
            let raw = self.raw.as_mut().ok_or(SessionError::Ended)?;
            match incoming {
                Incoming::Event(event) => {
                    raw.handle_event_async_into(&HostEvent::new(now_ms, event), &mut actions)
                        .await?;
                }
                Incoming::Execute(request) => {
                    raw.handle_execute_async(now_ms, request, &mut actions)
                        .await?;
                }
                Incoming::Received(len) => {
                    let data = self.recv_buf.get(..len).unwrap_or_default();
                    raw.handle_received_async(now_ms, data, &mut actions)
                        .await?;
                }
            }
            for action in actions.actions.drain(..).filter_map(|a| a.action) {
                self.actions_performed += 1;
                self.perform(action, outstanding, &mut response, &mut events)
                    .await?;
            }
            self.actions = actions;
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
            action::Action::SessionClosed(_) => {
                // Outside a graceful close it changes nothing: the host decides when to close.
                self.adapter_closed = true;
            }
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
