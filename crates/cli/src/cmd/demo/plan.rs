//! What the demo plans and asks, through the typed client: one EPCL entry per DMC of the
//! scenario, the story's phases for the installation modes its hubs cover, agreed MT and SIT
//! Depth & Breadth documents per SMSO, then the verdicts of every phase and entry.

use anyhow::bail;
use meterlab_catalog::{Catalog, Mode as CatalogMode, Phase as CatalogPhase};
use meterlab_client::Client;
use meterlab_client::types::DnbDocument;
use meterlab_emulator::scenario::Scenario;
use meterlab_governance::Verdict;
use meterlab_governance::model::{
    DeviceModel, DmcComponents, DmcId, DnbKey, DnbStatus, DocType, EntryKey, Mode, PhaseKind,
    Release, SmsoId, TestPhase, TestType,
};

const RELEASE: Release = Release::Moc;

/// One planned entry: its DMC and the story's phases its hubs can carry, in story order.
#[derive(Debug)]
pub struct PlannedEntry {
    pub entry: EntryKey,
    pub dmc: DmcComponents,
    pub phases: Vec<PhaseKind>,
}

/// The demo's plan: the planned entries, in scenario order.
#[derive(Debug)]
pub struct DemoPlan {
    pub entries: Vec<PlannedEntry>,
}

/// What evaluation found.
#[derive(Debug)]
pub struct Evaluation {
    pub phase_verdicts: Vec<Verdict>,
    pub entry_verdicts: Vec<Verdict>,
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

pub fn catalog_mode(mode: Mode) -> CatalogMode {
    match mode {
        Mode::Active => CatalogMode::Active,
        Mode::Dormant => CatalogMode::Dormant,
        Mode::Mixed => CatalogMode::Mixed,
    }
}

pub fn catalog_phase(test: TestType) -> CatalogPhase {
    match test {
        TestType::Mt => CatalogPhase::Mt,
        TestType::Sit => CatalogPhase::Sit,
    }
}

impl DemoPlan {
    pub fn new(scenario: &Scenario, phases: &[PhaseKind]) -> anyhow::Result<Self> {
        let mut entries = Vec::new();
        for dmc in &scenario.dmcs {
            let carried: Vec<PhaseKind> = phases
                .iter()
                .copied()
                .filter(|kind| {
                    scenario.hubs.iter().any(|hub| {
                        hub.dmc == dmc.id && super::installation_mode(hub.state) == kind.mode
                    })
                })
                .collect();
            if carried.is_empty() {
                continue;
            }
            entries.push(PlannedEntry {
                entry: EntryKey {
                    release: RELEASE,
                    smso: SmsoId::new(dmc.smso.clone()),
                    dmc: DmcId::new(dmc.id.clone()),
                },
                dmc: DmcComponents {
                    comms_hub: model(&dmc.hub.model, &dmc.hub.firmware),
                    esme: Some(model(&dmc.esme.model, &dmc.esme.firmware)),
                    gsme: Some(model(&dmc.gsme.model, &dmc.gsme.firmware)),
                    ppmid: None,
                    ihd: None,
                },
                phases: carried,
            });
        }
        if entries.is_empty() {
            bail!("the scenario has no hub in the installation state of any of the story's phases");
        }
        Ok(Self { entries })
    }

    /// Every phase the demo runs, entry by entry.
    pub fn phases(&self) -> impl Iterator<Item = TestPhase> + '_ {
        self.entries.iter().flat_map(|planned| {
            planned.phases.iter().map(|kind| TestPhase {
                entry: planned.entry.clone(),
                kind: *kind,
            })
        })
    }
}

fn document(suite: &Catalog, smso: &SmsoId, test: TestType) -> DnbDocument {
    let cases = suite
        .select(Some(catalog_phase(test)), None, None)
        .into_iter()
        .map(crate::cmd::gov::dnb::dnb_case)
        .collect();
    DnbDocument {
        key: DnbKey {
            release: RELEASE,
            smso: smso.clone(),
            doc_type: DocType::from(test),
        },
        version: "1".to_owned(),
        cases,
    }
}

/// Plans entries and phases, registers and agrees the Depth & Breadth documents the phases
/// need, and starts the phases the demo runs (their entry criteria are checked by the gateway).
pub async fn plan(client: &Client, plan: &DemoPlan, suite: &Catalog) -> anyhow::Result<()> {
    for planned in &plan.entries {
        let registered = client
            .register_entry(&planned.entry, &planned.dmc, "demo: planned EPCL entry")
            .await?;
        for required in &registered.required_phases {
            client
                .register_phase(
                    required,
                    None,
                    "demo: phase set of the planned entry (rule 1)",
                )
                .await?;
        }
    }
    let mut documents: Vec<(SmsoId, TestType)> = plan
        .phases()
        .map(|phase| (phase.entry.smso, phase.kind.test))
        .collect();
    documents.sort_unstable();
    documents.dedup();
    for (smso, test) in documents {
        let document = document(suite, &smso, test);
        client
            .register_depth_breadth(
                &document,
                &format!("demo: Depth & Breadth of {} for {smso}", test.as_str()),
            )
            .await?;
        client
            .set_depth_breadth_status(
                &document.key,
                "1",
                DnbStatus::Agreed,
                "demo: agreed with the TAG",
            )
            .await?;
    }
    for phase in plan.phases() {
        let started = client
            .start_phase(&phase, &format!("demo: start {}", phase.kind))
            .await?;
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

/// Evaluates every phase the demo ran and every entry.
pub async fn evaluate(client: &Client, plan: &DemoPlan) -> anyhow::Result<Evaluation> {
    let mut phase_verdicts = Vec::new();
    for phase in plan.phases() {
        phase_verdicts.push(client.evaluate_phase(&phase, None).await?);
    }
    let mut entry_verdicts = Vec::new();
    for planned in &plan.entries {
        entry_verdicts.push(client.evaluate_entry(&planned.entry, None).await?);
    }
    Ok(Evaluation {
        phase_verdicts,
        entry_verdicts,
    })
}
