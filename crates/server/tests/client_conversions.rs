//! The gateway's conversions to protobuf and the client's conversions back agree: a verdict the
//! engine computed reads back in `meterlab-client` as the same verdict (subject, outcome,
//! profile, every criterion with its rule, measure and limit).
#![allow(clippy::unwrap_used)]

mod common;

use meterlab_client::convert::{VerdictKind, verdict_from_proto};
use meterlab_governance::event::ProfileRef;
use meterlab_governance::model::PhaseId;
use meterlab_governance::profile::Limit;
use meterlab_governance::{Criterion, CriterionOutcome, Outcome, Quantity, Subject, Verdict};
use meterlab_server::convert::verdict::verdict_to_proto;

fn criterion(
    rule: u8,
    id: &str,
    measured: Quantity,
    limit: Quantity,
    outcome: CriterionOutcome,
) -> Criterion {
    Criterion {
        rule,
        id: id.to_owned(),
        clause: "SVTAD Table 13.3".to_owned(),
        measured,
        limit,
        outcome,
        explanation: format!("{id} explained"),
    }
}

#[test]
fn a_verdict_the_gateway_sends_reads_back_as_the_engine_wrote_it() {
    let phase = PhaseId::Test(common::mt_active_phase());
    let verdict = Verdict {
        subject: Subject::PhaseExit(phase),
        outcome: Outcome::NotMet,
        profile: ProfileRef {
            name: "illustrative".into(),
            version: "2019-08.1".into(),
        },
        illustrative_profile: true,
        at_seq: 42,
        assumptions: vec![],
        criteria: vec![
            criterion(
                4,
                "4.started",
                Quantity::Flag(true),
                Quantity::Flag(true),
                CriterionOutcome::Met,
            ),
            criterion(
                4,
                "4.coverage",
                Quantity::Fraction { num: 2, den: 13 },
                Quantity::Fraction { num: 13, den: 13 },
                CriterionOutcome::NotMet,
            ),
            criterion(
                4,
                "4.issues.sev2",
                Quantity::Count(1),
                Quantity::Limit(Limit::Max(0)),
                CriterionOutcome::NotMet,
            ),
            criterion(
                4,
                "4.issues.sev5",
                Quantity::Count(7),
                Quantity::Limit(Limit::Unlimited),
                CriterionOutcome::Met,
            ),
            criterion(
                5,
                "5.aggregate.sev2",
                Quantity::Count(1),
                Quantity::Limit(Limit::Max(0)),
                CriterionOutcome::Blocked,
            ),
            criterion(
                10,
                "10.dnb_status",
                Quantity::text("agreed"),
                Quantity::text("agreed or determined"),
                CriterionOutcome::Met,
            ),
            criterion(
                4,
                "4.registered",
                Quantity::Missing,
                Quantity::text("registered phase"),
                CriterionOutcome::Pending,
            ),
            criterion(
                5,
                "5.aggregate.sev3",
                Quantity::Count(4),
                Quantity::Limit(Limit::Max(2)),
                CriterionOutcome::Information,
            ),
        ],
    };
    let wire = verdict_to_proto(&verdict, verdict.at_seq);
    let read = verdict_from_proto(&wire, VerdictKind::PhaseExit, &[]).unwrap();
    assert_eq!(read, verdict);
}
