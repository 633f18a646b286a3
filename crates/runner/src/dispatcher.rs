//! The dispatcher: owns the run's user-visible state. It starts an executor per link group (up
//! to `jobs` at a time), numbers and timestamps their events into the one run event stream,
//! fans it out to every subscriber, counts results and handles cancellation.

use std::collections::BTreeMap;
use std::sync::Arc;

use meterlab_plugin_host::Plugin;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::event::{LogLevel, RunEvent, RunEventKind};
use crate::executor::{self, Report, Shared};
use crate::lease::Leases;
use crate::result::{CaseStatus, RunSummary};
use crate::settings::{DeviceUnit, RunPlan, RunSettings};
use crate::target::Connector;

/// Cancels a running run: cases in flight end `blocked`, cases not started end `not_run`.
#[derive(Debug, Clone)]
pub struct CancelHandle {
    sender: Arc<watch::Sender<bool>>,
}

impl CancelHandle {
    pub fn cancel(&self) {
        self.sender.send_replace(true);
    }
}

/// Runs plans on devices through one adapter plugin.
#[derive(Debug)]
pub struct Runner<C> {
    plugin: Arc<Plugin>,
    optical_plugin: Option<Arc<Plugin>>,
    connector: Arc<C>,
    leases: Leases,
    settings: RunSettings,
    subscribers: Vec<mpsc::UnboundedSender<RunEvent>>,
    cancel: Arc<watch::Sender<bool>>,
}

impl<C: Connector> Runner<C> {
    pub fn new(plugin: Arc<Plugin>, connector: C, settings: RunSettings) -> Self {
        Self {
            plugin,
            optical_plugin: None,
            connector: Arc::new(connector),
            leases: Leases::new(),
            settings,
            subscribers: Vec::new(),
            cancel: Arc::new(watch::channel(false).0),
        }
    }

    /// The adapter of the steps that go through a device's optical port (`via = "optical"`,
    /// e.g. the IEC 62056-21 adapter); without one such cases are skipped (`not_run`).
    pub fn with_optical_plugin(mut self, plugin: Arc<Plugin>) -> Self {
        self.optical_plugin = Some(plugin);
        self
    }

    /// Shares a lease table with other runners (and operators) of the same bench.
    pub fn with_leases(mut self, leases: Leases) -> Self {
        self.leases = leases;
        self
    }

    /// Every event of the run, in order, ending with [`RunEventKind::Finished`].
    pub fn subscribe(&mut self) -> mpsc::UnboundedReceiver<RunEvent> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.subscribers.push(sender);
        receiver
    }

    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle {
            sender: Arc::clone(&self.cancel),
        }
    }

    /// Executes the plan and returns its summary (also the last event).
    pub async fn run(self, plan: RunPlan) -> RunSummary {
        let (reports, incoming) = mpsc::unbounded_channel();
        let run_deadline = Instant::now() + self.settings.timeouts.run;
        let cases_total = if self.settings.check_only {
            0
        } else {
            plan.cases_total()
        };
        let plan_run_id = plan.run_id.clone();
        let mut dispatcher = Dispatcher {
            run_id: plan.run_id.clone(),
            seq: 0,
            subscribers: self.subscribers,
            summary: RunSummary {
                run_id: plan.run_id.clone(),
                cases_total,
                ..RunSummary::default()
            },
        };
        dispatcher.emit(RunEventKind::Started {
            cases_total,
            device_ids: plan
                .units
                .iter()
                .map(|unit| unit.target.id().to_owned())
                .collect(),
        });
        let shared = Arc::new(Shared {
            plugin: self.plugin,
            optical_plugin: self.optical_plugin,
            connector: self.connector,
            leases: self.leases,
            settings: self.settings.clone(),
            run_id: plan.run_id.clone(),
            run_deadline,
            reports,
        });
        let slots = Arc::new(Semaphore::new(self.settings.jobs.max(1)));
        let mut executors = JoinSet::new();
        for group in link_groups(plan.units) {
            let shared = Arc::clone(&shared);
            let slots = Arc::clone(&slots);
            let cancel = self.cancel.subscribe();
            executors.spawn(async move {
                // The semaphore is never closed, so acquiring cannot fail.
                let _slot = slots.acquire_owned().await;
                executor::run_group(shared, group, cancel).await;
            });
        }
        drop(shared);
        let cancel = self.cancel.subscribe();
        // The dispatcher loop runs as a task of the runtime, not in the caller's future: the
        // caller is often `block_on` on a thread outside the worker pool, and every report an
        // executor sent then woke that thread through the OS (a futex wake and a context switch
        // per run event: 30 % of the CPU of a 100-meter throughput run). A task is woken on
        // the worker that sent the report instead. Dropping `run` still aborts the run: the
        // guard aborts the task, which drops the executors' `JoinSet`.
        let dispatch = AbortOnDrop(tokio::spawn(dispatch(
            dispatcher, incoming, executors, cancel,
        )));
        let mut dispatcher = match dispatch.join().await {
            Ok(dispatcher) => dispatcher,
            // A panic in the dispatcher surfaces in the caller, as it did when the loop ran
            // inline.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            // Only a runtime shutting down cancels the task while `run` is being awaited.
            Err(error) => Dispatcher {
                run_id: plan_run_id.clone(),
                seq: 0,
                subscribers: Vec::new(),
                summary: RunSummary {
                    run_id: plan_run_id,
                    cases_total,
                    error: Some(format!("the run's dispatcher ended: {error}")),
                    ..RunSummary::default()
                },
            },
        };
        let summary = dispatcher.summary.clone();
        dispatcher.emit(RunEventKind::Finished(summary.clone()));
        summary
    }
}

/// Aborts the spawned task when dropped before it finished.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes the executors' reports until every executor has finished.
async fn dispatch(
    mut dispatcher: Dispatcher,
    mut incoming: mpsc::UnboundedReceiver<Report>,
    mut executors: JoinSet<()>,
    mut cancel: watch::Receiver<bool>,
) -> Dispatcher {
    let mut announced_cancel = false;
    loop {
        tokio::select! {
            report = incoming.recv() => match report {
                Some(report) => {
                    dispatcher.take(report);
                    // The reports already queued, without a trip through `select!` each (its
                    // futures are made, polled and dropped per turn).
                    while let Ok(report) = incoming.try_recv() {
                        dispatcher.take(report);
                    }
                }
                // Every executor has finished and dropped its sender.
                None => {
                    // A cancellation whose notice lost the race with the last reports (the
                    // branches are polled in random order) still ends the run as cancelled.
                    if !announced_cancel && *cancel.borrow() {
                        dispatcher.announce_cancel();
                    }
                    break;
                }
            },
            joined = executors.join_next(), if !executors.is_empty() => {
                if let Some(Err(error)) = joined {
                    dispatcher.emit(RunEventKind::Log {
                        level: LogLevel::Error,
                        message: format!("an executor ended abnormally: {error}"),
                        device_id: None,
                    });
                    dispatcher.summary.error =
                        Some(format!("an executor ended abnormally: {error}"));
                }
            }
            changed = cancel.changed(), if !announced_cancel => {
                announced_cancel = true;
                if changed.is_ok() && *cancel.borrow() {
                    dispatcher.announce_cancel();
                }
            }
        }
    }
    dispatcher
}

/// Devices sharing a link (a hub's devices on one serial line) form one group, worked in order.
fn link_groups(units: Vec<DeviceUnit>) -> Vec<Vec<DeviceUnit>> {
    let mut groups: BTreeMap<String, Vec<DeviceUnit>> = BTreeMap::new();
    let mut order = Vec::new();
    for unit in units {
        let key = unit.target.link_key();
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(unit);
    }
    order
        .into_iter()
        .filter_map(|key| groups.remove(&key))
        .collect()
}

struct Dispatcher {
    run_id: String,
    seq: u64,
    subscribers: Vec<mpsc::UnboundedSender<RunEvent>>,
    summary: RunSummary,
}

impl Dispatcher {
    fn announce_cancel(&mut self) {
        self.summary.error = Some("the run was cancelled".to_owned());
        self.emit(RunEventKind::Log {
            level: LogLevel::Warn,
            message: "run cancelled: cases in flight end blocked, the rest not_run".to_owned(),
            device_id: None,
        });
    }

    fn take(&mut self, report: Report) {
        match report {
            Report::Event(kind) => self.emit(kind),
            Report::Counted { status, flaky } => {
                let summary = &mut self.summary;
                match status {
                    CaseStatus::Passed => summary.passed += 1,
                    CaseStatus::Failed => summary.failed += 1,
                    CaseStatus::Blocked => summary.blocked += 1,
                    CaseStatus::NotRun => summary.not_run += 1,
                }
                if flaky {
                    summary.flaky += 1;
                }
            }
        }
    }

    fn emit(&mut self, kind: RunEventKind) {
        self.seq += 1;
        let event = RunEvent {
            run_id: self.run_id.clone(),
            seq: self.seq,
            at: crate::executor::wall_clock(),
            kind,
        };
        // A subscriber that went away (say, a closed progress bar) does not stop the run. The
        // last subscriber gets the event itself: a `CaseFinished` carries the attempt's whole
        // evidence and traffic, so a copy per subscriber is one copy too many.
        let mut event = Some(event);
        let last = self.subscribers.len().saturating_sub(1);
        let mut index = 0;
        self.subscribers.retain(|subscriber| {
            let this = index;
            index += 1;
            let copy = if this == last {
                event.take()
            } else {
                event.clone()
            };
            copy.is_some_and(|copy| subscriber.send(copy).is_ok())
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::sync::{mpsc, watch};
    use tokio::task::JoinSet;

    use super::{Dispatcher, dispatch};
    use crate::result::RunSummary;

    /// The executors' last reports and the cancellation's notice can arrive together; whichever
    /// the dispatcher sees first, a cancelled run ends with "the run was cancelled".
    #[tokio::test]
    async fn a_run_whose_reports_end_before_the_cancel_notice_is_still_cancelled() {
        let (sender, incoming) = mpsc::unbounded_channel();
        // Every executor has finished: the report channel is closed.
        drop(sender);
        let (cancel_sender, _) = watch::channel(false);
        cancel_sender.send_replace(true);
        // Subscribed after the cancel: `changed()` does not fire, as when the closed channel
        // wins the race.
        let cancel = cancel_sender.subscribe();
        let dispatcher = Dispatcher {
            run_id: "run".to_owned(),
            seq: 0,
            subscribers: Vec::new(),
            summary: RunSummary::default(),
        };
        let dispatcher = dispatch(dispatcher, incoming, JoinSet::new(), cancel).await;
        assert_eq!(
            dispatcher.summary.error.as_deref(),
            Some("the run was cancelled")
        );
    }
}
