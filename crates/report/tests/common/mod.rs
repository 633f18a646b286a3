//! One planned entry whose six phases stand in every way a report must show: an exited phase, a
//! failing one with an open severity 2 issue, one with a de-scope, one with a closed issue, one
//! not started, one with a blocked case and an issue whose title holds markup.
#![allow(clippy::expect_used, dead_code)]

use meterlab_governance::date::Timestamp;
use meterlab_governance::event::{CaseRef, CaseResult, DescopeRequest, IssueLink};
use meterlab_governance::model::*;
use meterlab_governance::profile::ILLUSTRATIVE_TOML;
use meterlab_governance::report::CompletionReport;
use meterlab_governance::*;
use meterlab_report::{Decision, RecordedDecision};

pub fn profile() -> Profile {
    load_profile("illustrative.toml", ILLUSTRATIVE_TOML).expect("shipped profile loads")
}

pub fn entry() -> EntryKey {
    EntryKey {
        release: Release::Ioc,
        smso: SmsoId::new("S1"),
        dmc: DmcId::new("D1"),
    }
}

pub fn phase(kind: &str) -> PhaseId {
    PhaseId::Test(TestPhase {
        entry: entry(),
        kind: PhaseKind::parse(kind).expect("phase kind"),
    })
}

fn doc(doc_type: DocType) -> DnbKey {
    DnbKey {
        release: Release::Ioc,
        smso: SmsoId::new("S1"),
        doc_type,
    }
}

fn spec(case: &str, srv: &str) -> CaseSpec {
    CaseSpec {
        case: CaseId::new(case),
        srv: Srv::new(srv),
        modes: Vec::new(),
    }
}

fn device(model: &str) -> DeviceModel {
    DeviceModel {
        manufacturer: "Acme".into(),
        model: model.into(),
        firmware: "1.0".into(),
    }
}

struct Log {
    proj: Projection,
    decisions: Vec<RecordedDecision>,
}

impl Log {
    fn apply(&mut self, e: Event) {
        self.proj.apply(&e).expect("fixture event applies");
    }

    fn decided(&mut self, e: Event, decision: Decision, actor: &str) {
        self.apply(e);
        self.decisions.push(RecordedDecision {
            decision,
            actor: actor.into(),
            seq: self.proj.seq(),
            recorded_at: Some(
                Timestamp::new(1_796_000_000 + self.proj.seq() as i64, 0).expect("ts"),
            ),
        });
    }

    fn result(&mut self, phase: &PhaseId, case: &str, attempt: u32, status: CaseStatus) {
        self.apply(Event::ResultRecorded(CaseResult {
            phase: phase.clone(),
            case: CaseId::new(case),
            case_hash: "ab".repeat(32),
            device: "esme-1".into(),
            attempt,
            status,
        }));
    }

    fn start(&mut self, phase: &PhaseId) {
        self.apply(Event::PhaseStarted {
            phase: phase.clone(),
            at: None,
        });
    }

    fn raise(&mut self, issue: u64, severity: u8, title: &str, phase: &PhaseId) {
        self.apply(Event::IssueRaised {
            issue,
            severity: Severity::new(severity).expect("severity"),
            title: title.into(),
            description: String::new(),
            links: vec![IssueLink {
                phase: phase.clone(),
                case: None,
            }],
        });
    }
}

/// The report over the six phases, and who recorded each decision.
pub fn story() -> (CompletionReport, Vec<RecordedDecision>) {
    let profile = profile();
    let mut log = Log {
        proj: Projection::new(),
        decisions: Vec::new(),
    };
    log.apply(Event::SmsoRegistered {
        smso: SmsoId::new("S1"),
        name: "Operator One".into(),
    });
    log.apply(Event::DmcRegistered {
        dmc: DmcId::new("D1"),
        components: DmcComponents {
            comms_hub: device("CH-1"),
            esme: Some(device("E-1")),
            gsme: None,
            ppmid: None,
            ihd: None,
        },
        supersedes: None,
    });
    log.apply(Event::EntryPlanned { entry: entry() });
    for kind in PhaseKind::all() {
        log.apply(Event::PhaseRegistered {
            phase: PhaseId::Test(TestPhase {
                entry: entry(),
                kind,
            }),
        });
    }
    for (t, cases) in [
        (DocType::Mt, vec![spec("M1", "4.1.1"), spec("M2", "4.1.2")]),
        (DocType::Sit, vec![spec("T1", "4.1.1"), spec("T2", "8.1.1")]),
    ] {
        log.apply(Event::DnbDrafted {
            doc: doc(t),
            revision: 1,
            cases,
        });
        log.decided(
            Event::DnbStatusChanged {
                doc: doc(t),
                status: DnbStatus::Agreed,
                note: "TAG meeting 12".into(),
            },
            Decision::DnbAgreed(doc(t)),
            "tm.alice",
        );
    }

    let mt_active = phase("mt.active");
    log.start(&mt_active);
    log.result(&mt_active, "M1", 1, CaseStatus::Passed);
    log.result(&mt_active, "M2", 1, CaseStatus::Failed);
    log.result(&mt_active, "M2", 2, CaseStatus::Passed);
    let exit = decide_exit(&log.proj, &profile, &mt_active).expect("mt.active exits");
    log.apply(exit);

    let mt_dormant = phase("mt.dormant");
    log.start(&mt_dormant);
    log.result(&mt_dormant, "M1", 1, CaseStatus::Passed);
    log.result(&mt_dormant, "M2", 1, CaseStatus::Blocked);
    log.raise(1, 2, "ESME rejects the tariff switch", &mt_dormant);

    let mt_mixed = phase("mt.mixed");
    log.start(&mt_mixed);
    log.result(&mt_mixed, "M1", 1, CaseStatus::Passed);
    let request = DescopeRequest {
        phase: mt_mixed.clone(),
        case: CaseId::new("M2"),
        cited: CaseRef {
            phase: mt_active.clone(),
            case: CaseId::new("M2"),
        },
        rationale: "mixed installations take the active ESME path for 4.1.2".into(),
    };
    let descope = decide_descope(&log.proj, &profile, &request).expect("valid de-scope");
    log.decided(
        descope,
        Decision::Descoped {
            phase: mt_mixed.clone(),
            case: CaseId::new("M2"),
        },
        "tm.bob",
    );

    let sit_active = phase("sit.active");
    log.start(&sit_active);
    log.result(&sit_active, "T1", 1, CaseStatus::Passed);
    log.result(&sit_active, "T2", 1, CaseStatus::Passed);
    log.raise(2, 3, "Slow response to SRV 8.1.1", &sit_active);
    log.decided(
        Event::IssueStatusChanged {
            issue: 2,
            status: IssueStatus::Closed,
            note: "retested".into(),
        },
        Decision::IssueClosed(2),
        "tm.alice",
    );

    let sit_mixed = phase("sit.mixed");
    log.start(&sit_mixed);
    log.result(&sit_mixed, "T1", 1, CaseStatus::Passed);
    log.result(&sit_mixed, "T2", 1, CaseStatus::Failed);
    log.raise(
        3,
        4,
        "Hub reply <b>truncated</b> & \"retried\" | twice",
        &sit_mixed,
    );

    let phases: Vec<PhaseId> = PhaseKind::all()
        .map(|kind| {
            PhaseId::Test(TestPhase {
                entry: entry(),
                kind,
            })
        })
        .collect();
    let report = completion_report(&log.proj, &profile, "IOC S1 D1 — MT & SIT", &phases);
    (report, log.decisions)
}
