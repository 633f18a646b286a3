//! The demo's gRPC side: planning over GovernanceService (results are streamed by `meterlab run`'s
//! result sink over ResultService),
//! and asking for verdicts and the completion report.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use meterlab_emulator::scenario::Scenario;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use pb::{CapabilityRelease, InstallationMode, TestType};
use tonic::transport::Channel;

use meterlab_catalog::{Catalog, Mode};

const ACTOR: &str = "meterlab demo";
const RELEASE: CapabilityRelease = CapabilityRelease::Moc;
const MODES: [InstallationMode; 3] = [
    InstallationMode::Active,
    InstallationMode::Dormant,
    InstallationMode::Mixed,
];

/// What the demo plans: one EPCL entry per DMC of the scenario, MT phases for the modes its
/// hubs cover.
#[derive(Debug)]
pub struct DemoPlan {
    entries: Vec<(pb::EntryKey, pb::Dmc, Vec<InstallationMode>)>,
}

/// What evaluation found.
#[derive(Debug)]
pub struct Summary {
    pub phase_verdicts: Vec<pb::Verdict>,
    pub entry_verdicts: Vec<pb::Verdict>,
    pub report_path: PathBuf,
}

impl DemoPlan {
    pub fn from_scenario(scenario: &Scenario) -> anyhow::Result<Self> {
        let mut entries = Vec::new();
        for dmc in &scenario.dmcs {
            let modes: Vec<InstallationMode> = MODES
                .into_iter()
                .filter(|mode| {
                    scenario.hubs.iter().any(|hub| {
                        hub.dmc == dmc.id && super::installation_mode(hub.state) == *mode
                    })
                })
                .collect();
            if modes.is_empty() {
                continue;
            }
            let models = [
                (pb::DeviceKind::CommsHub, &dmc.hub),
                (pb::DeviceKind::Esme, &dmc.esme),
                (pb::DeviceKind::Gsme, &dmc.gsme),
            ]
            .into_iter()
            .map(|(kind, spec)| pb::DeviceModelRef {
                kind: kind.into(),
                manufacturer: spec
                    .model
                    .split_whitespace()
                    .next()
                    .unwrap_or(&spec.model)
                    .to_owned(),
                model: spec.model.clone(),
                firmware_version: spec.firmware.clone(),
            })
            .collect();
            let entry = pb::EntryKey {
                release: RELEASE.into(),
                smso_id: dmc.smso.clone(),
                dmc_id: dmc.id.clone(),
            };
            let dmc = pb::Dmc {
                id: dmc.id.clone(),
                models,
            };
            entries.push((entry, dmc, modes));
        }
        if entries.is_empty() {
            bail!("the scenario has no hub of any DMC: nothing to test");
        }
        Ok(Self { entries })
    }

    pub fn entry_for(&self, dmc: &str) -> anyhow::Result<pb::EntryKey> {
        self.entries
            .iter()
            .find(|(entry, _, _)| entry.dmc_id == dmc)
            .map(|(entry, _, _)| entry.clone())
            .with_context(|| format!("DMC {dmc} is not planned"))
    }

    fn mt_phases(&self) -> impl Iterator<Item = pb::PhaseKey> + '_ {
        self.entries
            .iter()
            .flat_map(|(entry, _, modes)| modes.iter().map(move |mode| phase(entry, *mode)))
    }
}

pub fn phase(entry: &pb::EntryKey, mode: InstallationMode) -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(entry.clone()),
        test_type: TestType::Mt.into(),
        mode: mode.into(),
    }
}

fn meta(reason: &str) -> Option<pb::EventMeta> {
    Some(pb::EventMeta {
        actor: ACTOR.to_owned(),
        reason: reason.to_owned(),
        occurred_at: None,
    })
}

/// gRPC clients of one gateway.
#[derive(Debug)]
pub struct GatewayClient {
    governance: GovernanceServiceClient<Channel>,
    channel: Channel,
}

impl GatewayClient {
    pub async fn connect(address: SocketAddr) -> anyhow::Result<Self> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
            .connect()
            .await
            .with_context(|| format!("cannot connect to the gateway at {address}"))?;
        Ok(Self {
            governance: GovernanceServiceClient::new(channel.clone()),
            channel,
        })
    }

    /// The connection, for the result stream.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Plans entries and phases, registers and agrees the MT Depth & Breadth documents, and
    /// starts the MT phases (their entry criteria are checked by the gateway).
    pub async fn plan(&mut self, plan: &DemoPlan, suite: &Catalog) -> anyhow::Result<()> {
        for (entry, dmc, _) in &plan.entries {
            let planned = self
                .governance
                .register_entry(pb::RegisterEntryRequest {
                    entry: Some(entry.clone()),
                    dmc: Some(dmc.clone()),
                    meta: meta("demo: planned EPCL entry"),
                })
                .await
                .context("RegisterEntry")?
                .into_inner();
            for required in planned.required_phases {
                self.governance
                    .register_phase(pb::RegisterPhaseRequest {
                        phase: Some(required),
                        planned_start: None,
                        planned_end: None,
                        meta: meta("demo: phase set of the planned entry (rule 1)"),
                    })
                    .await
                    .context("RegisterPhase")?;
            }
        }
        let mut smsos: Vec<&str> = plan
            .entries
            .iter()
            .map(|(e, _, _)| e.smso_id.as_str())
            .collect();
        smsos.sort_unstable();
        smsos.dedup();
        for smso in smsos {
            let key = pb::DepthBreadthKey {
                release: RELEASE.into(),
                smso_id: smso.to_owned(),
                test_type: TestType::Mt.into(),
                regression: false,
            };
            let cases = suite
                .cases()
                .iter()
                .map(|case| pb::DepthBreadthCase {
                    case_id: case.id.clone(),
                    case_content_sha256: case.content_hash.0.to_vec(),
                    srv: case
                        .steps
                        .first()
                        .map_or_else(String::new, |step| step.srv.number().to_owned()),
                    modes: case
                        .modes
                        .iter()
                        .map(|mode| {
                            i32::from(match mode {
                                Mode::Active => InstallationMode::Active,
                                Mode::Dormant => InstallationMode::Dormant,
                                Mode::Mixed => InstallationMode::Mixed,
                            })
                        })
                        .collect(),
                })
                .collect();
            self.governance
                .register_depth_breadth(pb::RegisterDepthBreadthRequest {
                    document: Some(pb::DepthBreadthDocument {
                        key: Some(key.clone()),
                        version: "1".to_owned(),
                        cases,
                        status: pb::DepthBreadthStatus::Draft.into(),
                    }),
                    meta: meta("demo: Depth & Breadth of MT"),
                })
                .await
                .context("RegisterDepthBreadth")?;
            self.governance
                .set_depth_breadth_status(pb::SetDepthBreadthStatusRequest {
                    key: Some(key),
                    status: pb::DepthBreadthStatus::Agreed.into(),
                    version: "1".to_owned(),
                    meta: meta("demo: agreed with the TAG"),
                })
                .await
                .context("SetDepthBreadthStatus")?;
        }
        for phase in plan.mt_phases() {
            let started = self
                .governance
                .start_phase(pb::StartPhaseRequest {
                    phase: Some(phase.clone()),
                    meta: meta("demo: start MT"),
                })
                .await
                .context("StartPhase")?
                .into_inner();
            if !started.started {
                bail!(
                    "the gateway refused to start MT {:?}: {:?}",
                    phase.mode(),
                    started.entry_criteria
                );
            }
        }
        Ok(())
    }

    /// Evaluates every MT phase and every entry, and writes the combined completion report.
    pub async fn evaluate(&mut self, plan: &DemoPlan, dir: &Path) -> anyhow::Result<Summary> {
        let mut phase_verdicts = Vec::new();
        for phase in plan.mt_phases() {
            let verdict = self
                .governance
                .evaluate_phase(pb::EvaluatePhaseRequest {
                    phase: Some(phase),
                    profile: String::new(),
                })
                .await
                .context("EvaluatePhase")?
                .into_inner();
            phase_verdicts.push(verdict);
        }
        let mut entry_verdicts = Vec::new();
        for (entry, _, _) in &plan.entries {
            let verdict = self
                .governance
                .evaluate_entry(pb::EvaluateEntryRequest {
                    entry: Some(entry.clone()),
                    profile: String::new(),
                })
                .await
                .context("EvaluateEntry")?
                .into_inner();
            entry_verdicts.push(verdict);
        }
        let report = self
            .governance
            .get_completion_report(pb::GetCompletionReportRequest {
                phases: plan.mt_phases().collect(),
                entries: plan.entries.iter().map(|(e, _, _)| e.clone()).collect(),
                format: pb::ReportFormat::Markdown.into(),
                profile: String::new(),
            })
            .await
            .context("GetCompletionReport")?
            .into_inner();
        let report_path = dir.join("completion-report.md");
        std::fs::write(&report_path, &report.rendered)
            .with_context(|| format!("cannot write {}", report_path.display()))?;
        Ok(Summary {
            phase_verdicts,
            entry_verdicts,
            report_path,
        })
    }
}
