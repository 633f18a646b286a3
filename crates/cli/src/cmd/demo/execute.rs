//! Running one phase: its suite's cases on the devices of the hubs in the phase's installation
//! state, through the runner and the adapter plugin, every attempt streamed to the
//! ResultService (acknowledged only once durable) and kept for the report.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use meterlab_catalog::Catalog;
use meterlab_client::Client;
use meterlab_devices::DevicesFile;
use meterlab_emulator::scenario::HubSpec;
use meterlab_governance::model::TestPhase;
use meterlab_plugin_host::Plugin;
use meterlab_runner::{
    CaseStatus, DeviceTarget, DeviceUnit, DmcLibrary, LinkConnector, PlannedCase, RetryPolicy,
    RunEventKind, RunPlan, RunSettings, RunSummary, Runner, TestCase, Timeouts, Transport,
};

use super::plan::{catalog_mode, catalog_phase};
use super::story::Story;
use crate::cmd::run::report::Collected;
use crate::cmd::run::sink::{Journal, ResultSink};

/// What the demo runs with, the same for every phase.
pub struct Bench<'a> {
    pub client: &'a Client,
    pub plugin: &'a Arc<Plugin>,
    pub dmcs: &'a DmcLibrary,
    pub suite: &'a Catalog,
    pub devices: &'a DevicesFile,
    pub story: &'a Story,
    pub dir: &'a Path,
    pub run_stamp: u128,
}

/// One phase's run.
pub struct PhaseRun {
    pub phase: TestPhase,
    pub collected: Collected,
    pub summary: RunSummary,
    pub acknowledged: u64,
    /// Cases left out on a device, with why.
    pub skipped: Vec<String>,
}

/// Runs `phase` on `hub`'s devices.
pub async fn run_phase(
    bench: &Bench<'_>,
    phase: &TestPhase,
    hub: &HubSpec,
) -> anyhow::Result<PhaseRun> {
    let started = tokio::time::Instant::now();
    let mut units = Vec::new();
    let mut skipped = Vec::new();
    for device in bench.devices.devices.iter().filter(|d| d.hub == hub.id) {
        let target =
            DeviceTarget::for_dlms(device, bench.dmcs, Transport::Tcp, None, &BTreeMap::new())?;
        let mut cases = Vec::new();
        for case in bench.suite.select(
            Some(catalog_phase(phase.kind.test)),
            Some(catalog_mode(phase.kind.mode)),
            Some(device.role),
        ) {
            // As `meterlab run` does: a case reading an optical port the run cannot reach is
            // left out with the reason, never failed.
            if case.uses_optical()
                && let Err(reason) = target.optical.target()
            {
                skipped.push(format!("{} on {}: {reason}", case.id, device.name));
                continue;
            }
            cases.push(PlannedCase {
                case: Arc::new(case.clone()) as Arc<dyn TestCase>,
                attempts_before: 0,
            });
        }
        if !cases.is_empty() {
            units.push(DeviceUnit { target, cases });
        }
    }
    let run_id = format!(
        "demo-{}-{}-{}",
        bench.run_stamp,
        phase.entry.dmc.as_str(),
        phase.kind
    );
    let journal = Journal::open(&bench.dir.join("runs").join(format!("{run_id}.jsonl")))?;
    let mut sink = ResultSink::open(bench.client, &run_id, phase.clone(), journal).await?;
    let mut runner = Runner::new(
        Arc::clone(bench.plugin),
        LinkConnector::default(),
        RunSettings {
            jobs: 4,
            retry: RetryPolicy {
                retries: bench.story.retries,
                delay: std::time::Duration::from_millis(50),
            },
            timeouts: Timeouts {
                exchange: bench.story.exchange_timeout(&hub.id),
                ..Timeouts::default()
            },
            ..RunSettings::default()
        },
    );
    let mut events = runner.subscribe();
    let mut collected = Collected::default();
    let consume = async {
        let mut pushed = Ok(());
        while let Some(event) = events.recv().await {
            collected.take(&event);
            if let RunEventKind::CaseFinished(result) = &event.kind
                && pushed.is_ok()
            {
                pushed = sink.push(result).await;
            }
        }
        pushed
    };
    let (summary, pushed) = tokio::join!(runner.run(RunPlan { run_id, units }), consume);
    pushed?;
    let acknowledged = sink.finish().await?.acknowledged;
    let run = PhaseRun {
        phase: phase.clone(),
        collected,
        summary,
        acknowledged,
        skipped,
    };
    println!("{}", run.line(&hub.id, started.elapsed()));
    Ok(run)
}

impl PhaseRun {
    /// One progress line: the phase, its hub, the counts and the time it took.
    fn line(&self, hub: &str, took: std::time::Duration) -> String {
        let s = &self.summary;
        let mut line = format!(
            "  {:<44} on {hub:<14} {:>3} cases: {} passed, {} failed, {} blocked, {} not run",
            crate::verdicts::phase_name(&self.phase),
            s.cases_total,
            s.passed,
            s.failed,
            s.blocked,
            s.not_run
        );
        if s.flaky > 0 {
            line.push_str(&format!(" ({} passed only on a retry)", s.flaky));
        }
        if !self.skipped.is_empty() {
            line.push_str(&format!(", {} left out", self.skipped.len()));
        }
        line.push_str(&format!(" [{:.1} s]", took.as_secs_f64()));
        line
    }

    /// The last attempt of every (device, case) that failed.
    pub fn failures(&self) -> Vec<&meterlab_runner::CaseResult> {
        self.collected
            .by_case()
            .into_iter()
            .filter_map(|attempts| attempts.last().copied())
            .filter(|last| last.status == CaseStatus::Failed)
            .collect()
    }
}
