//! Verdict latency on a large projection, and projection build time.
//!
//! The log: 42 planned entries (252 test phases), MT and SIT Depth & Breadth lists of 1,000 cases,
//! exactly 1,000,000 `ResultRecorded` events (several attempts per case, the last mostly a pass)
//! and 10,000 Testing Issues (plus 5,000 status changes). Build time is measured against a
//! baseline in the same run: iterating the same events without applying them.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use meterlab_governance::event::{CaseResult, IssueLink};
use meterlab_governance::model::*;
use meterlab_governance::profile::ILLUSTRATIVE_TOML;
use meterlab_governance::*;

const ENTRIES: usize = 42;
const CASES_PER_DOC: usize = 1_000;
const RESULTS: usize = 1_000_000;
const ISSUES: u64 = 10_000;

fn entry(i: usize) -> EntryKey {
    EntryKey {
        release: Release::Moc,
        smso: SmsoId::new("S1"),
        dmc: DmcId::new(format!("D{i:02}")),
    }
}

fn device(model: &str) -> DeviceModel {
    DeviceModel {
        manufacturer: "Acme".into(),
        model: model.into(),
        firmware: "1.0".into(),
    }
}

/// A cheap deterministic mix, so statuses and severities vary without a RNG dependency.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

fn events() -> (Vec<Event>, Vec<PhaseId>) {
    let mut ev = vec![Event::SmsoRegistered {
        smso: SmsoId::new("S1"),
        name: "Operator One".into(),
    }];
    let mut phases = Vec::new();
    for i in 0..ENTRIES {
        let e = entry(i);
        ev.push(Event::DmcRegistered {
            dmc: e.dmc.clone(),
            components: DmcComponents {
                comms_hub: device("CH"),
                esme: Some(device("E")),
                gsme: Some(device("G")),
                ppmid: None,
                ihd: None,
            },
            supersedes: None,
        });
        ev.push(Event::EntryPlanned { entry: e.clone() });
        for kind in PhaseKind::all() {
            let phase = PhaseId::Test(TestPhase {
                entry: e.clone(),
                kind,
            });
            ev.push(Event::PhaseRegistered {
                phase: phase.clone(),
            });
            ev.push(Event::PhaseStarted {
                phase: phase.clone(),
                at: None,
            });
            phases.push(phase);
        }
    }
    for (doc_type, prefix) in [(DocType::Mt, "M"), (DocType::Sit, "T")] {
        let doc = DnbKey {
            release: Release::Moc,
            smso: SmsoId::new("S1"),
            doc_type,
        };
        ev.push(Event::DnbDrafted {
            doc: doc.clone(),
            revision: 1,
            cases: (0..CASES_PER_DOC)
                .map(|c| CaseSpec {
                    case: CaseId::new(format!("{prefix}{c:04}")),
                    srv: Srv::new(format!("{}.{}.1", c % 20, c % 7)),
                    modes: Vec::new(),
                })
                .collect(),
        });
        ev.push(Event::DnbStatusChanged {
            doc,
            status: DnbStatus::Agreed,
            note: String::new(),
        });
    }
    let mut n = 0;
    let mut attempt = 1;
    'outer: loop {
        for phase in &phases {
            let PhaseId::Test(t) = phase else { continue };
            let prefix = if t.kind.test == TestType::Mt {
                "M"
            } else {
                "T"
            };
            for c in 0..CASES_PER_DOC {
                let roll = mix(n as u64) % 10;
                let status = if attempt >= 4 || roll < 3 {
                    CaseStatus::Passed
                } else if roll < 8 {
                    CaseStatus::Failed
                } else {
                    CaseStatus::Blocked
                };
                ev.push(Event::ResultRecorded(CaseResult {
                    phase: phase.clone(),
                    case: CaseId::new(format!("{prefix}{c:04}")),
                    case_hash: "9f2c".into(),
                    device: format!("dev-{}", c % 16),
                    attempt,
                    status,
                }));
                n += 1;
                if n == RESULTS {
                    break 'outer;
                }
            }
        }
        attempt += 1;
    }
    for id in 1..=ISSUES {
        let r = mix(id);
        let first = (r % phases.len() as u64) as usize;
        let mut links = vec![IssueLink {
            phase: phases[first].clone(),
            case: None,
        }];
        if r.is_multiple_of(3) {
            // Same entry, another phase: counted once in the aggregate.
            let sibling = first - first % 6 + (first + 1) % 6;
            links.push(IssueLink {
                phase: phases[sibling].clone(),
                case: None,
            });
        }
        ev.push(Event::IssueRaised {
            issue: id,
            severity: Severity::new((r % 5) as u8 + 1).unwrap(),
            title: format!("issue {id}"),
            description: String::new(),
            links,
        });
    }
    for id in (1..=ISSUES).step_by(2) {
        let status = match mix(id + 7) % 3 {
            0 => IssueStatus::Closed,
            1 => IssueStatus::Fixed,
            _ => IssueStatus::KnownDefect,
        };
        ev.push(Event::IssueStatusChanged {
            issue: id,
            status,
            note: "workaround documented".into(),
        });
    }
    (ev, phases)
}

fn bench(c: &mut Criterion) {
    let profile = load_profile("illustrative.toml", ILLUSTRATIVE_TOML).unwrap();
    let (events, phases) = events();
    let results = events
        .iter()
        .filter(|e| matches!(e, Event::ResultRecorded(_)))
        .count();
    assert_eq!(results, RESULTS);
    let proj = Projection::from_events(&events).unwrap();

    let mut build = c.benchmark_group("projection_build_1M_results_10k_issues");
    build.sample_size(10);
    build.warm_up_time(Duration::from_secs(1));
    build.measurement_time(Duration::from_secs(3));
    build.bench_function("baseline_iterate_events", |b| {
        b.iter(|| {
            let mut results = 0usize;
            for e in black_box(&events) {
                if let Event::ResultRecorded(r) = black_box(e) {
                    results += r.attempt as usize;
                }
            }
            results
        })
    });
    build.bench_function("apply_events", |b| {
        b.iter(|| Projection::from_events(black_box(&events)).unwrap().seq())
    });
    build.finish();

    let mut verdict = c.benchmark_group("verdict_1M_results_10k_issues");
    verdict.warm_up_time(Duration::from_secs(1));
    verdict.measurement_time(Duration::from_secs(2));
    let phase = &phases[7];
    let entry_key = phase.entry().unwrap().clone();
    verdict.bench_function("phase_exit", |b| {
        b.iter(|| evaluate_phase_exit(black_box(&proj), &profile, phase))
    });
    verdict.bench_function("entry_aggregate", |b| {
        b.iter(|| evaluate_entry(black_box(&proj), &profile, &entry_key))
    });
    verdict.bench_function("start_request", |b| {
        b.iter(|| evaluate_start(black_box(&proj), &profile, phase))
    });
    let entry_phases: Vec<PhaseId> = phases[6..12].to_vec();
    verdict.bench_function("completion_report_6_phases", |b| {
        b.iter(|| completion_report(black_box(&proj), &profile, "bench", &entry_phases))
    });
    let open_issue = proj
        .issues()
        .find(|i| i.status == IssueStatus::Open && i.phases.contains(phase))
        .map(|i| i.id)
        .unwrap();
    verdict.bench_function("what_if_close_issue_phase_exit", |b| {
        b.iter(|| {
            what_if(black_box(&proj), &[Event::close_issue(open_issue)], |p| {
                evaluate_phase_exit(p, &profile, phase)
            })
            .unwrap()
        })
    });
    verdict.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
