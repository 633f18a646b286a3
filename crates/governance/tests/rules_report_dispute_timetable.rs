//! Rule 9 (combined completion report), rule 10 (dispute transitions), rule 11 (timetable).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_governance::date::PlanDate;
use meterlab_governance::event::DescopeRequest;
use meterlab_governance::model::*;
use meterlab_governance::*;

fn d(s: &str) -> PlanDate {
    PlanDate::parse(s).unwrap()
}

#[test]
fn combined_report_lists_every_phase_criterion_issue_and_descope() {
    let mut w = World::new();
    let mt = w.p("mt.active");
    let sit_a = w.p("sit.active");
    let sit_d = w.p("sit.dormant");
    w.complete(&mt).complete(&sit_a);
    w.start(&sit_d).result(&sit_d, "T2", 1, CaseStatus::Passed);
    w.apply(Event::CaseDescoped(DescopeRequest {
        phase: sit_d.clone(),
        case: CaseId::new("T1"),
        cited: w.case_ref(&sit_a, "T1"),
        rationale: "active stands for dormant".into(),
    }));
    let open = w.raise(3, &[&mt, &sit_a]);
    let kd = w.raise(4, &[&sit_d]);
    w.set_status(kd, IssueStatus::KnownDefect);
    let closed = w.raise(1, &[&mt]);
    w.set_status(closed, IssueStatus::Closed);

    let phases = vec![mt.clone(), sit_a.clone(), sit_d.clone(), mt.clone()];
    let r = completion_report(&w.proj, &w.profile, "IOC S1 D1 MT+SIT", &phases);
    assert_eq!(r.outcome, Outcome::Exit, "{:#?}", r.phases);
    assert_eq!(r.phases.len(), 3, "duplicates are ignored");
    assert!(r.phases.iter().all(|v| v.criteria.len() >= 8));
    assert_eq!(r.profile.name, "illustrative");
    assert_eq!(r.profile.version, w.profile.version);
    assert!(r.illustrative_profile);
    assert_eq!(r.entries.len(), 1);
    assert_eq!(r.issues.len(), 3);
    let sev = |n: usize| &r.issues_by_severity[n - 1];
    assert_eq!((sev(3).open, sev(4).known_defect, sev(1).closed), (1, 1, 1));
    assert_eq!(r.descopes.len(), 1);
    assert_eq!(r.descopes[0].rationale, "active stands for dormant");
    assert!(r.audit.required, "IOC requires audit");
    assert!(r.issues.iter().any(|i| i.id == open));
}

#[test]
fn audit_is_for_ioc_only_and_an_empty_report_is_not_met() {
    let mut w = World::with_release(Release::Moc);
    let p = w.p("mt.mixed");
    w.complete(&p);
    let r = completion_report(&w.proj, &w.profile, "MOC", std::slice::from_ref(&p));
    assert!(!r.audit.required);
    assert_eq!(r.releases, vec![Release::Moc]);
    assert_eq!(r.outcome, Outcome::Exit);
    let empty = completion_report(&w.proj, &w.profile, "nothing", &[]);
    assert_eq!(empty.outcome, Outcome::NotMet);
    // A failing phase makes the combined report not met.
    let q = w.p("mt.active");
    let r = completion_report(&w.proj, &w.profile, "MOC", &[p, q]);
    assert_eq!(r.outcome, Outcome::NotMet);
}

#[test]
fn dnb_transitions_follow_rule_10() {
    use DnbStatus::*;
    let allowed = [
        (Draft, Agreed),
        (Draft, Disputed),
        (Disputed, Agreed),
        (Disputed, Referred),
        (Referred, Determined),
    ];
    let all = [Draft, Agreed, Disputed, Referred, Determined];
    for from in all {
        for to in all {
            assert_eq!(
                from.can_become(to),
                allowed.contains(&(from, to)),
                "{from:?} -> {to:?}"
            );
        }
    }
    let mut w = World::new();
    // Agreed -> Referred is refused; a referred list cannot be redrafted.
    assert!(matches!(
        w.try_apply(Event::DnbStatusChanged {
            doc: doc(Release::Ioc, DocType::Mt),
            status: Referred,
            note: String::new()
        }),
        Err(DomainError::BadDnbTransition { .. })
    ));
    w.draft(DocType::Mt, 2)
        .set_dnb(DocType::Mt, Disputed)
        .set_dnb(DocType::Mt, Referred);
    assert!(
        w.try_apply(Event::DnbDrafted {
            doc: doc(Release::Ioc, DocType::Mt),
            revision: 3,
            cases: cases(DocType::Mt)
        })
        .is_err()
    );
    let stale = w.try_apply(Event::DnbDrafted {
        doc: doc(Release::Ioc, DocType::Sit),
        revision: 1,
        cases: cases(DocType::Sit),
    });
    assert!(
        matches!(stale, Err(DomainError::StaleDnbRevision { .. })),
        "{stale:?}"
    );
    let history = &w.proj.doc(&doc(Release::Ioc, DocType::Mt)).unwrap().history;
    assert_eq!(history.len(), 5, "draft, agreed, draft, disputed, referred");
}

#[test]
fn a_revised_list_changes_what_a_phase_requires() {
    let mut w = World::new();
    let p = w.p("mt.active");
    w.complete(&p);
    assert_eq!(
        evaluate_phase_exit(&w.proj, &w.profile, &p).outcome,
        Outcome::Exit
    );
    let mut revised = cases(DocType::Mt);
    revised.push(spec("M4", "4.1.3", &[]));
    w.apply(Event::DnbDrafted {
        doc: doc(Release::Ioc, DocType::Mt),
        revision: 2,
        cases: revised,
    });
    w.set_dnb(DocType::Mt, DnbStatus::Agreed);
    let v = evaluate_phase_exit(&w.proj, &w.profile, &p);
    assert_eq!(v.outcome, Outcome::NotMet);
    assert!(
        v.criterion("4.coverage")
            .unwrap()
            .explanation
            .contains("M4")
    );
    assert!(w.proj.counter_mismatches().is_empty());
}

#[test]
fn replanning_is_an_event_and_keeps_history() {
    let mut w = World::new();
    let p = w.p("sit.mixed");
    let v = evaluate_replan(
        &w.proj,
        &w.profile,
        &p,
        d("2019-10-01"),
        d("2019-11-01"),
        "slip",
    );
    assert_eq!(outcome_of(&v, "11.planned"), CriterionOutcome::NotMet);
    assert!(matches!(
        w.try_apply(Event::TimetableAmended {
            phase: p.clone(),
            start: d("2019-10-01"),
            end: d("2019-11-01"),
            reason: "slip".into()
        }),
        Err(DomainError::NotPlanned(_))
    ));
    w.apply(Event::TimetablePlanned {
        phase: p.clone(),
        start: d("2019-09-01"),
        end: d("2019-10-01"),
        reason: String::new(),
    });
    w.start(&p);
    let v = evaluate_replan(
        &w.proj,
        &w.profile,
        &p,
        d("2019-10-01"),
        d("2019-11-01"),
        "SMSO outage",
    );
    assert_eq!(v.outcome, Outcome::Exit, "{:#?}", v.criteria);
    assert!(
        v.criterion("11.while_running")
            .unwrap()
            .explanation
            .contains("running")
    );
    let bad = evaluate_replan(
        &w.proj,
        &w.profile,
        &p,
        d("2019-11-01"),
        d("2019-10-01"),
        "",
    );
    assert_eq!(
        bad.failing().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["11.window", "11.reason"]
    );
    w.apply(Event::TimetableAmended {
        phase: p.clone(),
        start: d("2019-10-01"),
        end: d("2019-11-01"),
        reason: "SMSO outage".into(),
    });
    let tt = w.proj.phase(&p).unwrap().timetable();
    assert_eq!(tt.len(), 2);
    assert_eq!(tt[0].end, d("2019-10-01"), "the original plan is kept");
    assert!(matches!(
        w.try_apply(Event::TimetablePlanned {
            phase: p.clone(),
            start: d("2019-10-01"),
            end: d("2019-11-01"),
            reason: String::new()
        }),
        Err(DomainError::AlreadyPlanned(_))
    ));
    assert!(matches!(
        w.try_apply(Event::TimetableAmended {
            phase: p,
            start: d("2019-12-01"),
            end: d("2019-11-01"),
            reason: "x".into()
        }),
        Err(DomainError::WindowReversed { .. })
    ));
}

#[test]
fn a_dispute_ends_only_by_agreement_referral_or_a_named_withdrawal() {
    use DnbStatus::*;
    let mt = doc(Release::Ioc, DocType::Mt);
    let mut w = World::new();
    w.draft(DocType::Mt, 2).set_dnb(DocType::Mt, Disputed);

    // A new revision would drop the dispute from the record: refused, and nothing changes.
    let redraft = w.try_apply(Event::DnbDrafted {
        doc: mt.clone(),
        revision: 3,
        cases: cases(DocType::Mt),
    });
    assert!(
        matches!(redraft, Err(DomainError::DisputeNotEnded { .. })),
        "{redraft:?}"
    );
    assert!(redraft.unwrap_err().to_string().contains("withdrawal"));
    assert_eq!(w.proj.doc(&mt).unwrap().status, Disputed);
    assert_eq!(w.proj.doc(&mt).unwrap().revision, 2);

    // A withdrawal must say who and why.
    for (by, reason) in [("", "settled informally"), ("TAG chair", " ")] {
        let e = w.try_apply(Event::DnbDisputeWithdrawn {
            doc: mt.clone(),
            by: by.into(),
            reason: reason.into(),
        });
        assert!(matches!(e, Err(DomainError::Empty { .. })), "{e:?}");
    }
    assert_eq!(w.proj.doc(&mt).unwrap().status, Disputed);

    w.apply(Event::DnbDisputeWithdrawn {
        doc: mt.clone(),
        by: "TAG chair".into(),
        reason: "the SMSO accepted the case list".into(),
    });
    let state = w.proj.doc(&mt).unwrap();
    assert_eq!(state.status, Draft);
    let (_, status, note) = state.history.last().unwrap();
    assert_eq!(*status, Draft);
    assert_eq!(
        note,
        "dispute withdrawn by TAG chair: the SMSO accepted the case list"
    );
    assert!(
        state.history.iter().any(|(_, s, _)| *s == Disputed),
        "the dispute stays in the history"
    );
    // Back in draft: it may be revised, or agreed.
    w.draft(DocType::Mt, 3).set_dnb(DocType::Mt, Agreed);

    // Nothing to withdraw from an agreed or a referred document.
    let e = w.try_apply(Event::DnbDisputeWithdrawn {
        doc: mt.clone(),
        by: "TAG chair".into(),
        reason: "r".into(),
    });
    assert!(
        matches!(e, Err(DomainError::NoDisputeToWithdraw { .. })),
        "{e:?}"
    );
    w.draft(DocType::Mt, 4)
        .set_dnb(DocType::Mt, Disputed)
        .set_dnb(DocType::Mt, Referred);
    let e = w.try_apply(Event::DnbDisputeWithdrawn {
        doc: mt.clone(),
        by: "TAG chair".into(),
        reason: "r".into(),
    });
    assert!(
        matches!(e, Err(DomainError::NoDisputeToWithdraw { .. })),
        "{e:?}"
    );
}

#[test]
fn a_withdrawal_round_trips_in_its_stored_form() {
    let e = Event::DnbDisputeWithdrawn {
        doc: doc(Release::Ioc, DocType::Mt),
        by: "TAG chair".into(),
        reason: "accepted".into(),
    };
    let json = serde_json::to_string(&VersionedEvent::from(e.clone())).unwrap();
    assert!(
        json.contains("\"type\":\"dnb_dispute_withdrawn\""),
        "{json}"
    );
    let back: VersionedEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(back.into_event(), e);
}
