//! The log's attributed decisions -> what `meterlab-report` lists as "who recorded it".

use meterlab_governance::date::Timestamp;
use meterlab_report::{Decision as ReportDecision, RecordedDecision};

use crate::projector::{Decision, DecisionSubject};

/// Every attributed decision, in log order, as the report shows it.
pub fn recorded_decisions(decisions: &[Decision]) -> Vec<RecordedDecision> {
    decisions
        .iter()
        .map(|d| RecordedDecision {
            decision: match &d.subject {
                DecisionSubject::DnbAgreed(doc) => ReportDecision::DnbAgreed(doc.clone()),
                DecisionSubject::Descoped(phase, case) => ReportDecision::Descoped {
                    phase: phase.clone(),
                    case: case.clone(),
                },
                DecisionSubject::IssueClosed(id) => ReportDecision::IssueClosed(*id),
            },
            actor: d.actor.clone(),
            seq: d.seq,
            recorded_at: Timestamp::new(
                d.timestamp_ms.div_euclid(1000),
                u32::try_from(d.timestamp_ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
            )
            .ok(),
        })
        .collect()
}
