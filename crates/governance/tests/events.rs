//! The stored form of events, and validation on apply.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::event::{CaseResult, IssueLink};
use meterlab_governance::model::*;
use meterlab_governance::*;

#[test]
fn versioned_json_is_stable_and_round_trips() {
    let w = World::new();
    let event = Event::IssueRaised {
        issue: 17,
        severity: Severity::new(2).unwrap(),
        title: "meter clock drift".into(),
        description: String::new(),
        links: vec![IssueLink {
            phase: w.p("sit.dormant"),
            case: Some(CaseId::new("T1")),
        }],
    };
    let json = serde_json::to_string(&VersionedEvent::from(event.clone())).unwrap();
    assert_eq!(
        json,
        r#"{"schema":"meterlab.governance/1","type":"issue_raised","issue":17,"severity":2,"title":"meter clock drift","links":[{"phase":{"test":{"entry":{"release":"IOC","smso":"S1","dmc":"D1"},"kind":{"test":"sit","mode":"dormant"}}},"case":"T1"}]}"#
    );
    let back: VersionedEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(back.into_event(), event);
    assert!(json.contains(EVENT_SCHEMA));
}

#[test]
fn every_fixture_event_round_trips() {
    // Rebuild the fixture world from JSON: same projection, same verdict.
    let mut w = World::new();
    let p = w.p("mt.active");
    w.complete(&p);
    w.raise(3, &[&p]);
    let mut events = Vec::new();
    for e in fixture_events(&w) {
        let json = serde_json::to_string(&VersionedEvent::from(e.clone())).unwrap();
        let back: VersionedEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back.into_event(), e, "{json}");
        events.push(e);
    }
    let rebuilt = Projection::from_events(&events).unwrap();
    let a = evaluate_phase_exit(&w.proj, &w.profile, &p);
    let b = evaluate_phase_exit(&rebuilt, &w.profile, &p);
    assert_eq!(a, b);
}

/// The events that build `World::new()` plus a completed MT active phase and one issue.
fn fixture_events(w: &World) -> Vec<Event> {
    let p = w.p("mt.active");
    let mut out = vec![
        Event::SmsoRegistered {
            smso: SmsoId::new("S1"),
            name: "Operator One".into(),
        },
        Event::DmcRegistered {
            dmc: DmcId::new("D1"),
            components: components("1.0"),
            supersedes: None,
        },
        Event::EntryPlanned {
            entry: w.entry.clone(),
        },
    ];
    for kind in PhaseKind::all() {
        out.push(Event::PhaseRegistered {
            phase: w.phase(kind),
        });
    }
    for t in [DocType::Mt, DocType::Sit, DocType::Regression] {
        out.push(Event::DnbDrafted {
            doc: doc(Release::Ioc, t),
            revision: 1,
            cases: cases(t),
        });
        out.push(Event::DnbStatusChanged {
            doc: doc(Release::Ioc, t),
            status: DnbStatus::Agreed,
            note: String::new(),
        });
    }
    out.push(Event::PhaseStarted {
        phase: p.clone(),
        at: None,
    });
    for case in ["M1", "M2"] {
        out.push(Event::ResultRecorded(CaseResult {
            phase: p.clone(),
            case: CaseId::new(case),
            case_hash: "h1".into(),
            device: "dev-1".into(),
            attempt: 1,
            status: CaseStatus::Passed,
        }));
    }
    out.push(Event::IssueRaised {
        issue: 1,
        severity: Severity::new(3).unwrap(),
        title: "issue 1".into(),
        description: String::new(),
        links: vec![IssueLink {
            phase: p,
            case: None,
        }],
    });
    out
}

type ErrorCheck = fn(&DomainError) -> bool;

#[test]
fn bad_input_is_rejected_with_a_clear_error() {
    let bad_sev = r#"{"schema":"meterlab.governance/1","type":"issue_severity_changed","issue":1,"severity":6,"reason":"x"}"#;
    let err = serde_json::from_str::<VersionedEvent>(bad_sev)
        .unwrap_err()
        .to_string();
    assert!(err.contains("severity 6 is outside 1..=5"), "{err}");
    let bad_schema = r#"{"schema":"meterlab.governance/9","type":"phase_started"}"#;
    assert!(serde_json::from_str::<VersionedEvent>(bad_schema).is_err());
    let bad_date = r#"{"schema":"meterlab.governance/1","type":"timetable_planned","phase":{"regression":{"scope":{"cycle":"C"},"kind":"combined"}},"start":"2019-02-30","end":"2019-03-01"}"#;
    let err = serde_json::from_str::<VersionedEvent>(bad_date)
        .unwrap_err()
        .to_string();
    assert!(err.contains("2019-02-30"), "{err}");

    let mut w = World::new();
    let ghost = PhaseId::test(entry_for(Release::Foc, "D1"), TestType::Mt, Mode::Active);
    let cases: Vec<(Event, ErrorCheck)> = vec![
        (
            Event::PhaseStarted {
                phase: ghost.clone(),
                at: None,
            },
            |e| matches!(e, DomainError::UnknownPhase(_)),
        ),
        (
            Event::PhaseRegistered {
                phase: ghost.clone(),
            },
            |e| matches!(e, DomainError::UnknownEntry(_)),
        ),
        (Event::close_issue(99), |e| {
            matches!(e, DomainError::UnknownIssue(99))
        }),
        (
            Event::IssueRaised {
                issue: 1,
                severity: Severity::new(1).unwrap(),
                title: "t".into(),
                description: String::new(),
                links: vec![],
            },
            |e| matches!(e, DomainError::IssueWithoutPhase(1)),
        ),
        (
            Event::IssueRaised {
                issue: 1,
                severity: Severity::new(1).unwrap(),
                title: "t".into(),
                description: String::new(),
                links: vec![IssueLink {
                    phase: ghost.clone(),
                    case: None,
                }],
            },
            |e| matches!(e, DomainError::UnknownPhase(_)),
        ),
        (
            Event::PhaseExited {
                phase: w.p("mt.active"),
                profile: w.profile.reference(),
                at: None,
            },
            |e| matches!(e, DomainError::NotStarted(_)),
        ),
        (
            Event::ResultRecorded(CaseResult {
                phase: w.p("mt.active"),
                case: CaseId::new("M1"),
                case_hash: "h".into(),
                device: "d".into(),
                attempt: 0,
                status: CaseStatus::Passed,
            }),
            |e| matches!(e, DomainError::ZeroAttempt { .. }),
        ),
        (
            Event::EntryPlanned {
                entry: w.entry.clone(),
            },
            |e| matches!(e, DomainError::DuplicateEntry(_)),
        ),
        (
            Event::EntryPlanned {
                entry: entry_for(Release::Moc, "D7"),
            },
            |e| matches!(e, DomainError::UnknownDmc(_)),
        ),
    ];
    for (event, expected) in cases {
        let before = w.proj.seq();
        let err = w.try_apply(event.clone()).unwrap_err();
        assert!(expected(&err), "{event:?} gave {err}");
        assert_eq!(w.proj.seq(), before, "a rejected event is not counted");
    }
    let p = w.p("mt.active");
    w.start(&p).result(&p, "M1", 1, CaseStatus::Passed);
    let dup = w.try_apply(Event::ResultRecorded(CaseResult {
        phase: p,
        case: CaseId::new("M1"),
        case_hash: "h".into(),
        device: "dev-1".into(),
        attempt: 1,
        status: CaseStatus::Failed,
    }));
    assert!(matches!(
        dup,
        Err(DomainError::DuplicateAttempt { attempt: 1, .. })
    ));
    let i = w.raise(2, &[&w.p("mt.active")]);
    let kd = w.try_apply(Event::IssueStatusChanged {
        issue: i,
        status: IssueStatus::KnownDefect,
        note: " ".into(),
    });
    assert!(matches!(
        kd,
        Err(DomainError::KnownDefectWithoutWorkaround(_))
    ));
}

#[test]
fn kind_matches_the_serde_tag() {
    let w = World::new();
    let events = fixture_events(&w);
    for e in &events {
        let value: serde_json::Value = serde_json::to_value(e).unwrap();
        assert_eq!(value["type"], e.kind(), "{e:?}");
        assert_eq!(e.payload_type(), format!("governance.{}.v1", e.kind()));
    }
}

#[test]
fn issue_descriptions_are_stored_and_old_events_without_one_still_read() {
    let mut w = World::new();
    let p = w.p("mt.active");
    let old = r#"{"schema":"meterlab.governance/1","type":"issue_raised","issue":5,"severity":3,"title":"old","links":[{"phase":{"test":{"entry":{"release":"IOC","smso":"S1","dmc":"D1"},"kind":{"test":"mt","mode":"active"}}}}]}"#;
    let event = serde_json::from_str::<VersionedEvent>(old)
        .unwrap()
        .into_event();
    let Event::IssueRaised { description, .. } = &event else {
        panic!("{event:?}");
    };
    assert_eq!(description, "");
    w.apply(event);
    assert_eq!(w.proj.issue(5).unwrap().description, "");

    let described = Event::IssueRaised {
        issue: 6,
        severity: Severity::new(2).unwrap(),
        title: "clock drift".into(),
        description: "ESME clock runs 4 s/day fast after the firmware update".into(),
        links: vec![IssueLink {
            phase: p.clone(),
            case: None,
        }],
    };
    let json = serde_json::to_string(&VersionedEvent::from(described.clone())).unwrap();
    assert!(json.contains(r#""description":"ESME clock runs"#), "{json}");
    let back = serde_json::from_str::<VersionedEvent>(&json)
        .unwrap()
        .into_event();
    assert_eq!(back, described);
    w.apply(back);
    assert!(w.proj.issue(6).unwrap().description.starts_with("ESME"));
    w.apply(Event::IssueDescribed {
        issue: 6,
        description: "fixed text".into(),
    });
    assert_eq!(w.proj.issue(6).unwrap().description, "fixed text");
    assert!(matches!(
        w.try_apply(Event::IssueDescribed {
            issue: 99,
            description: "x".into()
        }),
        Err(DomainError::UnknownIssue(99))
    ));
}

fn on_device(phase: &PhaseId, case: &str, device: &str, attempt: u32, status: CaseStatus) -> Event {
    Event::ResultRecorded(CaseResult {
        phase: phase.clone(),
        case: CaseId::new(case),
        case_hash: "h".into(),
        device: device.into(),
        attempt,
        status,
    })
}

#[test]
fn results_of_two_devices_with_the_same_attempt_number_both_count() {
    let mut w = World::new();
    let p = w.p("mt.active");
    w.start(&p);
    let case = |w: &World| {
        w.proj
            .phase(&p)
            .unwrap()
            .case(&CaseId::new("M1"))
            .unwrap()
            .clone()
    };
    w.apply(on_device(&p, "M1", "esme-a", 1, CaseStatus::Passed));
    // The second meter's first attempt is not a duplicate of the first meter's.
    w.apply(on_device(&p, "M1", "esme-b", 1, CaseStatus::Failed));
    let record = case(&w);
    assert_eq!(record.attempts.len(), 2);
    assert_eq!(record.counting().count(), 2);
    // One meter failing the case means the case is not passed.
    assert_eq!(record.last_status(), Some(CaseStatus::Failed));
    let passed_before = w.proj.phase(&p).unwrap().coverage().passed;

    w.apply(on_device(&p, "M1", "esme-b", 2, CaseStatus::Passed));
    let record = case(&w);
    assert_eq!(record.last_status(), Some(CaseStatus::Passed));
    assert_eq!(
        record.last_on("esme-b").map(|a| (a.attempt, a.status)),
        Some((2, CaseStatus::Passed))
    );
    assert_eq!(
        w.proj.phase(&p).unwrap().coverage().passed,
        passed_before + 1
    );

    // The same device and attempt again is the duplicate.
    assert!(matches!(
        w.try_apply(on_device(&p, "M1", "esme-a", 1, CaseStatus::Failed)),
        Err(DomainError::DuplicateAttempt { ref device, attempt: 1, .. }) if device == "esme-a"
    ));
    // A late, lower attempt on one device is kept but does not count.
    w.apply(on_device(&p, "M1", "esme-c", 3, CaseStatus::Passed));
    w.apply(on_device(&p, "M1", "esme-c", 2, CaseStatus::Failed));
    assert_eq!(case(&w).last_status(), Some(CaseStatus::Passed));
}

/// A run that found the device leased by another run records `not_run` under a new attempt
/// number; that attempt never executed, so the earlier pass (or failure) keeps counting.
#[test]
fn a_later_not_run_attempt_does_not_hide_the_attempt_that_ran() {
    let mut w = World::new();
    let p = w.p("mt.active");
    w.start(&p);
    let status = |w: &World| {
        w.proj
            .phase(&p)
            .unwrap()
            .case(&CaseId::new("M1"))
            .unwrap()
            .last_status()
    };
    w.apply(on_device(&p, "M1", "esme-a", 1, CaseStatus::NotRun));
    assert_eq!(status(&w), Some(CaseStatus::NotRun), "nothing ran yet");
    w.apply(on_device(&p, "M1", "esme-a", 2, CaseStatus::Passed));
    let passed = w.proj.phase(&p).unwrap().coverage().passed;
    w.apply(on_device(&p, "M1", "esme-a", 3, CaseStatus::NotRun));
    assert_eq!(status(&w), Some(CaseStatus::Passed));
    assert_eq!(w.proj.phase(&p).unwrap().coverage().passed, passed);
    let record = w
        .proj
        .phase(&p)
        .unwrap()
        .case(&CaseId::new("M1"))
        .unwrap()
        .clone();
    assert_eq!(record.counting_on("esme-a").map(|a| a.attempt), Some(2));
    // The next attempt still follows the highest number recorded.
    assert_eq!(record.last_on("esme-a").map(|a| a.attempt), Some(3));

    // An attempt that ran and failed does count over the pass.
    w.apply(on_device(&p, "M1", "esme-a", 4, CaseStatus::Failed));
    assert_eq!(status(&w), Some(CaseStatus::Failed));
}
