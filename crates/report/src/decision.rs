//! Who recorded the decisions a completion report rests on (issue 12): the Depth & Breadth
//! agreement, each de-scope and each issue closure. The log keeps the principal of every event;
//! the caller (the gateway, or the CLI reading a local store) passes them in.

use meterlab_governance::date::Timestamp;
use meterlab_governance::model::{CaseId, DnbKey, DocType, IssueId, PhaseId, RegressionScope};
use meterlab_governance::report::CompletionReport;
use meterlab_governance::verdict::Subject;
use serde::Serialize;

/// A decision that verdicts rest on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    DnbAgreed(DnbKey),
    Descoped { phase: PhaseId, case: CaseId },
    IssueClosed(IssueId),
}

/// A decision with who recorded it and where it is in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDecision {
    pub decision: Decision,
    /// The principal; empty for events written before attribution or without authentication.
    pub actor: String,
    /// Position of the event in the log.
    pub seq: u64,
    pub recorded_at: Option<Timestamp>,
}

/// One decision row as the templates show it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DecisionRow {
    pub what: &'static str,
    pub subject: String,
    pub actor: String,
    pub seq: u64,
    pub at: String,
}

impl DecisionRow {
    pub(crate) fn of(d: &RecordedDecision) -> Self {
        let (what, subject) = match &d.decision {
            Decision::DnbAgreed(doc) => ("Depth & Breadth agreed", doc.to_string()),
            Decision::Descoped { phase, case } => {
                ("case de-scoped", format!("{phase} case {case}"))
            }
            Decision::IssueClosed(id) => ("Testing Issue closed", format!("issue {id}")),
        };
        DecisionRow {
            what,
            subject,
            actor: actor_label(&d.actor),
            seq: d.seq,
            at: d.recorded_at.map_or_else(String::new, |t| t.to_string()),
        }
    }
}

pub(crate) fn actor_label(actor: &str) -> String {
    if actor.trim().is_empty() {
        "not recorded".to_string()
    } else {
        actor.to_string()
    }
}

/// The decisions that concern the report, in log order: de-scopes of its phases, agreements of
/// the documents of its entries' (release, SMSO), closures of its issues.
pub(crate) fn relevant<'a>(
    report: &CompletionReport,
    decisions: &'a [RecordedDecision],
) -> Vec<&'a RecordedDecision> {
    let phases: Vec<&PhaseId> = report.phase_cases.iter().map(|p| &p.phase).collect();
    let mut out: Vec<&RecordedDecision> = decisions
        .iter()
        .filter(|d| match &d.decision {
            Decision::Descoped { phase, .. } => phases.contains(&phase),
            Decision::DnbAgreed(doc) => phases.iter().any(|p| {
                p.entry()
                    .is_some_and(|e| e.release == doc.release && e.smso == doc.smso)
            }),
            Decision::IssueClosed(id) => report.issues.iter().any(|i| i.id == *id),
        })
        .collect();
    out.sort_by_key(|d| d.seq);
    out
}

/// Who recorded the de-scope of `case` in `phase` (the latest such decision).
pub(crate) fn descoped_by(decisions: &[&RecordedDecision], phase: &str, case: &str) -> String {
    decisions
        .iter()
        .rev()
        .find(|d| match &d.decision {
            Decision::Descoped { phase: p, case: c } => {
                p.to_string() == phase && c.as_str() == case
            }
            _ => false,
        })
        .map_or_else(|| actor_label(""), |d| actor_label(&d.actor))
}

/// The decisions a verdict rests on: the agreement of its phase's Depth & Breadth document (for
/// an entry, of its MT and SIT documents), the de-scopes of its phase (of the entry's phases),
/// and every issue closure passed in (the caller passes those of the issues linked to it).
pub(crate) fn for_verdict<'a>(
    subject: &Subject,
    decisions: &'a [RecordedDecision],
) -> Vec<&'a RecordedDecision> {
    let doc_matches = |doc: &DnbKey| match subject {
        Subject::PhaseExit(PhaseId::Test(t)) | Subject::PhaseStart(PhaseId::Test(t)) => {
            doc.release == t.entry.release
                && doc.smso == t.entry.smso
                && doc.doc_type == DocType::from(t.kind.test)
        }
        Subject::PhaseExit(PhaseId::Regression(r))
        | Subject::PhaseStart(PhaseId::Regression(r)) => match &r.scope {
            RegressionScope::Entry(e) => {
                doc.release == e.release
                    && doc.smso == e.smso
                    && doc.doc_type == DocType::Regression
            }
            RegressionScope::Cycle(_) => doc.doc_type == DocType::Regression,
        },
        Subject::Entry(e) => {
            doc.release == e.release && doc.smso == e.smso && doc.doc_type != DocType::Regression
        }
        _ => false,
    };
    let phase_matches = |phase: &PhaseId| match subject {
        Subject::PhaseExit(p) | Subject::PhaseStart(p) => p == phase,
        Subject::Entry(e) => phase.entry() == Some(e),
        _ => false,
    };
    let mut out: Vec<&RecordedDecision> = decisions
        .iter()
        .filter(|d| match &d.decision {
            Decision::DnbAgreed(doc) => doc_matches(doc),
            Decision::Descoped { phase, .. } => phase_matches(phase),
            Decision::IssueClosed(_) => true,
        })
        .collect();
    out.sort_by_key(|d| d.seq);
    out
}
