//! What the demo plans and asks, through the typed client: one EPCL entry per DMC of the
//! scenario, MT phases for the modes its hubs cover, an agreed MT Depth & Breadth document, then
//! the verdicts and the completion report.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use meterlab_catalog::{Catalog, Mode as CatalogMode};
use meterlab_client::Client;
use meterlab_client::types::{DnbCase, DnbDocument, ReportFormat};
use meterlab_emulator::scenario::Scenario;
use meterlab_governance::Verdict;
use meterlab_governance::model::{
    CaseId, CaseSpec, DeviceModel, DmcComponents, DmcId, DnbKey, DnbStatus, DocType, EntryKey,
    Mode, PhaseKind, Release, SmsoId, Srv, TestPhase, TestType,
};

const RELEASE: Release = Release::Moc;

/// The demo's plan: per planned entry, its DMC and the MT modes its hubs cover.
#[derive(Debug)]
pub struct DemoPlan {
    entries: Vec<(EntryKey, DmcComponents, Vec<Mode>)>,
}

/// What evaluation found.
#[derive(Debug)]
pub struct Summary {
    pub phase_verdicts: Vec<Verdict>,
    pub entry_verdicts: Vec<Verdict>,
    pub report_path: PathBuf,
}

fn model(spec_model: &str, firmware: &str) -> DeviceModel {
    DeviceModel {
        manufacturer: spec_model
            .split_whitespace()
            .next()
            .unwrap_or(spec_model)
            .to_owned(),
        model: spec_model.to_owned(),
        firmware: firmware.to_owned(),
    }
}

impl DemoPlan {
    pub fn from_scenario(scenario: &Scenario) -> anyhow::Result<Self> {
        let mut entries = Vec::new();
        for dmc in &scenario.dmcs {
            let modes: Vec<Mode> = Mode::ALL
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
            let components = DmcComponents {
                comms_hub: model(&dmc.hub.model, &dmc.hub.firmware),
                esme: Some(model(&dmc.esme.model, &dmc.esme.firmware)),
                gsme: Some(model(&dmc.gsme.model, &dmc.gsme.firmware)),
                ppmid: None,
                ihd: None,
            };
            let entry = EntryKey {
                release: RELEASE,
                smso: SmsoId::new(dmc.smso.clone()),
                dmc: DmcId::new(dmc.id.clone()),
            };
            entries.push((entry, components, modes));
        }
        if entries.is_empty() {
            bail!("the scenario has no hub of any DMC: nothing to test");
        }
        Ok(Self { entries })
    }

    pub fn entry_for(&self, dmc: &str) -> anyhow::Result<EntryKey> {
        self.entries
            .iter()
            .find(|(entry, _, _)| entry.dmc.as_str() == dmc)
            .map(|(entry, _, _)| entry.clone())
            .with_context(|| format!("DMC {dmc} is not planned"))
    }

    fn mt_phases(&self) -> impl Iterator<Item = TestPhase> + '_ {
        self.entries
            .iter()
            .flat_map(|(entry, _, modes)| modes.iter().map(move |mode| phase(entry, *mode)))
    }
}

pub fn phase(entry: &EntryKey, mode: Mode) -> TestPhase {
    TestPhase {
        entry: entry.clone(),
        kind: PhaseKind {
            test: TestType::Mt,
            mode,
        },
    }
}

/// Plans entries and phases, registers and agrees the MT Depth & Breadth documents, and starts
/// the MT phases (their entry criteria are checked by the gateway).
pub async fn plan(client: &Client, plan: &DemoPlan, suite: &Catalog) -> anyhow::Result<()> {
    for (entry, dmc, _) in &plan.entries {
        let planned = client
            .register_entry(entry, dmc, "demo: planned EPCL entry")
            .await?;
        for required in &planned.required_phases {
            client
                .register_phase(
                    required,
                    None,
                    "demo: phase set of the planned entry (rule 1)",
                )
                .await?;
        }
    }
    let mut smsos: Vec<&SmsoId> = plan.entries.iter().map(|(e, _, _)| &e.smso).collect();
    smsos.sort_unstable();
    smsos.dedup();
    for smso in smsos {
        let key = DnbKey {
            release: RELEASE,
            smso: smso.clone(),
            doc_type: DocType::Mt,
        };
        let cases = suite
            .cases()
            .iter()
            .map(|case| DnbCase {
                spec: CaseSpec {
                    case: CaseId::new(case.id.clone()),
                    srv: Srv::new(
                        case.steps
                            .first()
                            .map_or_else(String::new, |step| step.srv.number().to_owned()),
                    ),
                    modes: case
                        .modes
                        .iter()
                        .map(|mode| match mode {
                            CatalogMode::Active => Mode::Active,
                            CatalogMode::Dormant => Mode::Dormant,
                            CatalogMode::Mixed => Mode::Mixed,
                        })
                        .collect(),
                },
                content_sha256: case.content_hash.0,
            })
            .collect();
        let document = DnbDocument {
            key: key.clone(),
            version: "1".to_owned(),
            cases,
        };
        client
            .register_depth_breadth(&document, "demo: Depth & Breadth of MT")
            .await?;
        client
            .set_depth_breadth_status(&key, "1", DnbStatus::Agreed, "demo: agreed with the TAG")
            .await?;
    }
    for phase in plan.mt_phases() {
        let started = client.start_phase(&phase, "demo: start MT").await?;
        if !started.started {
            bail!(
                "the gateway refused to start {}: {:?}",
                crate::verdicts::phase_name(&phase),
                started.entry_criteria
            );
        }
    }
    Ok(())
}

/// Evaluates every MT phase and every entry, and writes the combined completion report.
pub async fn evaluate(client: &Client, plan: &DemoPlan, dir: &Path) -> anyhow::Result<Summary> {
    let mut phase_verdicts = Vec::new();
    for phase in plan.mt_phases() {
        phase_verdicts.push(client.evaluate_phase(&phase, None).await?);
    }
    let mut entry_verdicts = Vec::new();
    for (entry, _, _) in &plan.entries {
        entry_verdicts.push(client.evaluate_entry(entry, None).await?);
    }
    let phases: Vec<TestPhase> = plan.mt_phases().collect();
    let entries: Vec<EntryKey> = plan.entries.iter().map(|(e, _, _)| e.clone()).collect();
    let report = client
        .completion_report(&phases, &entries, ReportFormat::Markdown, None)
        .await?;
    let report_path = dir.join("completion-report.md");
    std::fs::write(&report_path, &report.rendered)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    Ok(Summary {
        phase_verdicts,
        entry_verdicts,
        report_path,
    })
}
