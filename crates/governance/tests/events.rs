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
    out.push(Event::PhaseStarted { phase: p.clone() });
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
                links: vec![],
            },
            |e| matches!(e, DomainError::IssueWithoutPhase(1)),
        ),
        (
            Event::IssueRaised {
                issue: 1,
                severity: Severity::new(1).unwrap(),
                title: "t".into(),
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
        device: "d".into(),
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
