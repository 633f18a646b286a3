//! A small planned-entry world the rule tests build on.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use meterlab_governance::event::{CaseRef, CaseResult, IssueLink};
use meterlab_governance::model::*;
use meterlab_governance::profile::{ILLUSTRATIVE_TOML, STRICT_TOML};
use meterlab_governance::*;

pub fn illustrative() -> Profile {
    load_profile("illustrative.toml", ILLUSTRATIVE_TOML).unwrap()
}

pub fn strict() -> Profile {
    load_profile("strict.toml", STRICT_TOML).unwrap()
}

pub fn device(model: &str, firmware: &str) -> DeviceModel {
    DeviceModel {
        manufacturer: "Acme".into(),
        model: model.into(),
        firmware: firmware.into(),
    }
}

pub fn components(esme_fw: &str) -> DmcComponents {
    DmcComponents {
        comms_hub: device("CH-1", "1.0"),
        esme: Some(device("E-1", esme_fw)),
        gsme: Some(device("G-1", "1.0")),
        ppmid: None,
        ihd: None,
    }
}

pub fn entry_for(release: Release, dmc: &str) -> EntryKey {
    EntryKey {
        release,
        smso: SmsoId::new("S1"),
        dmc: DmcId::new(dmc),
    }
}

pub fn doc(release: Release, doc_type: DocType) -> DnbKey {
    DnbKey {
        release,
        smso: SmsoId::new("S1"),
        doc_type,
    }
}

pub fn spec(case: &str, srv: &str, modes: &[Mode]) -> CaseSpec {
    CaseSpec {
        case: CaseId::new(case),
        srv: Srv::new(srv),
        modes: modes.to_vec(),
    }
}

/// MT cases: M1 (4.1.1), M2 (4.1.2), M3 (6.2.1, dormant only). SIT: T1 (4.1.1), T2 (8.1.1).
/// Regression: R1 (4.1.1).
pub fn cases(doc_type: DocType) -> Vec<CaseSpec> {
    match doc_type {
        DocType::Mt => vec![
            spec("M1", "4.1.1", &[]),
            spec("M2", "4.1.2", &[]),
            spec("M3", "6.2.1", &[Mode::Dormant]),
        ],
        DocType::Sit => vec![spec("T1", "4.1.1", &[]), spec("T2", "8.1.1", &[])],
        DocType::Regression => vec![spec("R1", "4.1.1", &[])],
    }
}

pub struct World {
    pub proj: Projection,
    pub profile: Profile,
    pub entry: EntryKey,
    next_issue: u64,
}

impl World {
    /// SMSO S1, DMC D1, planned entry IOC/S1/D1 with its six phases, and agreed MT, SIT and
    /// regression Depth & Breadth documents.
    pub fn new() -> World {
        Self::with_release(Release::Ioc)
    }

    pub fn with_release(release: Release) -> World {
        let mut w = World {
            proj: Projection::new(),
            profile: illustrative(),
            entry: entry_for(release, "D1"),
            next_issue: 1,
        };
        w.apply(Event::SmsoRegistered {
            smso: SmsoId::new("S1"),
            name: "Operator One".into(),
        });
        w.apply(Event::DmcRegistered {
            dmc: DmcId::new("D1"),
            components: components("1.0"),
            supersedes: None,
        });
        w.apply(Event::EntryPlanned {
            entry: w.entry.clone(),
        });
        for kind in PhaseKind::all() {
            let phase = w.phase(kind);
            w.apply(Event::PhaseRegistered { phase });
        }
        for t in [DocType::Mt, DocType::Sit, DocType::Regression] {
            w.draft(t, 1);
            w.set_dnb(t, DnbStatus::Agreed);
        }
        w
    }

    pub fn apply(&mut self, e: Event) -> &mut Self {
        let described = format!("{e:?}");
        if let Err(err) = self.proj.apply(&e) {
            panic!("fixture event rejected: {err}\n{described}");
        }
        self
    }

    pub fn try_apply(&mut self, e: Event) -> Result<(), DomainError> {
        self.proj.apply(&e)
    }

    pub fn phase(&self, kind: PhaseKind) -> PhaseId {
        PhaseId::Test(TestPhase {
            entry: self.entry.clone(),
            kind,
        })
    }

    pub fn p(&self, kind: &str) -> PhaseId {
        self.phase(PhaseKind::parse(kind).unwrap())
    }

    pub fn run(&self, kind: RegressionKind) -> PhaseId {
        PhaseId::regression(RegressionScope::Entry(self.entry.clone()), kind)
    }

    pub fn draft(&mut self, t: DocType, revision: u32) -> &mut Self {
        let doc = doc(self.entry.release, t);
        self.apply(Event::DnbDrafted {
            doc,
            revision,
            cases: cases(t),
        })
    }

    pub fn set_dnb(&mut self, t: DocType, status: DnbStatus) -> &mut Self {
        let doc = doc(self.entry.release, t);
        self.apply(Event::DnbStatusChanged {
            doc,
            status,
            note: String::new(),
        })
    }

    pub fn start(&mut self, phase: &PhaseId) -> &mut Self {
        self.apply(Event::PhaseStarted {
            phase: phase.clone(),
            at: None,
        })
    }

    pub fn result(
        &mut self,
        phase: &PhaseId,
        case: &str,
        attempt: u32,
        status: CaseStatus,
    ) -> &mut Self {
        self.apply(Event::ResultRecorded(CaseResult {
            phase: phase.clone(),
            case: CaseId::new(case),
            case_hash: "h1".into(),
            device: "dev-1".into(),
            attempt,
            status,
        }))
    }

    /// Records a passed first attempt for every case the phase requires.
    pub fn pass_all(&mut self, phase: &PhaseId) -> &mut Self {
        let required: Vec<String> = {
            let state = self.proj.phase(phase).unwrap();
            let doc = self.proj.doc(state.doc()).unwrap();
            doc.cases
                .values()
                .filter(|s| s.applies_to(phase))
                .map(|s| s.case.to_string())
                .collect()
        };
        for case in required {
            let next = self
                .proj
                .phase(phase)
                .and_then(|p| p.case(&CaseId::new(case.as_str())))
                .map_or(1, |r| r.attempts.len() as u32 + 1);
            self.result(phase, &case, next, CaseStatus::Passed);
        }
        self
    }

    /// Starts the phase and passes every required case.
    pub fn complete(&mut self, phase: &PhaseId) -> &mut Self {
        if self.proj.phase(phase).unwrap().started().is_none() {
            self.start(phase);
        }
        self.pass_all(phase)
    }

    pub fn exit(&mut self, phase: &PhaseId) -> &mut Self {
        let profile = self.profile.reference();
        self.apply(Event::PhaseExited {
            phase: phase.clone(),
            profile,
            at: None,
        })
    }

    /// Raises an issue linked to `phases`, returning its id.
    pub fn raise(&mut self, severity: u8, phases: &[&PhaseId]) -> u64 {
        let id = self.next_issue;
        self.next_issue += 1;
        self.apply(Event::IssueRaised {
            issue: id,
            severity: Severity::new(severity).unwrap(),
            title: format!("issue {id}"),
            description: String::new(),
            links: phases
                .iter()
                .map(|p| IssueLink {
                    phase: (*p).clone(),
                    case: None,
                })
                .collect(),
        });
        id
    }

    pub fn set_status(&mut self, issue: u64, status: IssueStatus) -> &mut Self {
        self.apply(Event::IssueStatusChanged {
            issue,
            status,
            note: "workaround: retry".into(),
        })
    }

    pub fn case_ref(&self, phase: &PhaseId, case: &str) -> CaseRef {
        CaseRef {
            phase: phase.clone(),
            case: CaseId::new(case),
        }
    }

    pub fn register_run(&mut self, kind: RegressionKind) -> PhaseId {
        let run = self.run(kind);
        self.apply(Event::PhaseRegistered { phase: run.clone() });
        run
    }
}

pub fn outcome_of(v: &Verdict, id: &str) -> CriterionOutcome {
    v.criterion(id)
        .unwrap_or_else(|| panic!("criterion {id} missing from {:#?}", v.criteria))
        .outcome
}
