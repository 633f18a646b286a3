//! Domain verdicts, issues and reports -> `meterlab.v1` messages.

use meterlab_governance::model::{RegressionScope, Release};
use meterlab_governance::profile::Limit;
use meterlab_governance::projection::Issue;
use meterlab_governance::{CriterionOutcome, Outcome, Profile, Quantity, Subject, Verdict};
use meterlab_proto::v1 as pb;

use super::keys::{entry_to_proto, issue_status_to_proto, phase_to_proto};

pub fn outcome_to_proto(o: Outcome) -> pb::VerdictOutcome {
    match o {
        Outcome::Exit => pb::VerdictOutcome::Exit,
        Outcome::NotMet => pb::VerdictOutcome::NotMet,
        Outcome::Blocked => pb::VerdictOutcome::Blocked,
        Outcome::Pending => pb::VerdictOutcome::Pending,
    }
}

fn criterion_outcome_to_proto(o: CriterionOutcome) -> pb::CriterionOutcome {
    match o {
        CriterionOutcome::Met => pb::CriterionOutcome::Met,
        CriterionOutcome::NotMet => pb::CriterionOutcome::NotMet,
        CriterionOutcome::Blocked => pb::CriterionOutcome::Blocked,
        CriterionOutcome::Pending => pb::CriterionOutcome::Pending,
        // Shown, not deciding: the proto's "does not apply to this verdict's outcome".
        CriterionOutcome::Information => pb::CriterionOutcome::NotApplicable,
    }
}

fn measure(q: &Quantity) -> pb::Measure {
    use pb::measure::Value;
    let value = match q {
        Quantity::Count(n) => Value::Count(*n),
        Quantity::Limit(Limit::Max(n)) => Value::Count(u64::from(*n)),
        Quantity::Limit(Limit::Unlimited) => Value::Unlimited(pb::Unlimited {}),
        Quantity::Fraction { num, den } => Value::Text(format!("{num}/{den}")),
        Quantity::Text(t) => Value::Text(t.clone()),
        Quantity::Flag(b) => Value::Flag(*b),
        Quantity::Missing => Value::Missing(pb::Missing {
            what: "no data recorded".to_owned(),
        }),
    };
    pb::Measure {
        value: Some(value),
        unit: String::new(),
    }
}

pub fn profile_to_proto(profile: &Profile) -> pb::RuleProfileRef {
    pb::RuleProfileRef {
        name: profile.name.clone(),
        version: profile.version.clone(),
        illustrative: profile.illustrative,
    }
}

/// A verdict, computed at log position `log_position`.
pub fn verdict_to_proto(v: &Verdict, log_position: u64) -> pb::Verdict {
    use pb::verdict::Subject as S;
    let subject = match &v.subject {
        Subject::PhaseExit(p) | Subject::PhaseStart(p) | Subject::Replan(p) => {
            phase_to_proto(p).map(S::Phase)
        }
        Subject::Descope { phase, .. } => phase_to_proto(phase).map(S::Phase),
        Subject::Entry(e) | Subject::Regression(RegressionScope::Entry(e)) => {
            Some(S::Entry(entry_to_proto(e)))
        }
        Subject::Regression(RegressionScope::Cycle(c)) => Some(S::CycleId(c.to_string())),
        Subject::Reintroduction(_) => None,
    };
    pb::Verdict {
        outcome: outcome_to_proto(v.outcome).into(),
        profile: Some(pb::RuleProfileRef {
            name: v.profile.name.clone(),
            version: v.profile.version.clone(),
            illustrative: v.illustrative_profile,
        }),
        subject,
        criteria: v
            .criteria
            .iter()
            .map(|c| pb::Criterion {
                rule_id: format!("R{}.{}", c.rule, c.id),
                clause: c.clause.clone(),
                measured: Some(measure(&c.measured)),
                limit: Some(measure(&c.limit)),
                outcome: criterion_outcome_to_proto(c.outcome).into(),
                explanation: c.explanation.clone(),
            })
            .collect(),
        log_position,
        hypothetical: !v.assumptions.is_empty(),
    }
}

pub fn issue_to_proto(issue: &Issue) -> pb::TestingIssue {
    let mut cases = Vec::new();
    for link in &issue.links {
        if let (Some(case), Some(phase)) = (&link.case, phase_to_proto(&link.phase)) {
            cases.push(pb::CaseRef {
                phase: Some(phase),
                case_id: case.to_string(),
            });
        }
    }
    pb::TestingIssue {
        id: issue.id.to_string(),
        severity: u32::from(issue.severity.level()),
        status: issue_status_to_proto(issue.status).into(),
        title: issue.title.clone(),
        description: issue.description.clone(),
        workaround: issue.workaround.clone().unwrap_or_default(),
        phases: issue.phases.iter().filter_map(phase_to_proto).collect(),
        cases,
        raised_at: None,
        updated_at: None,
        log_position: issue.history.last().map_or(0, |h| h.seq + 1),
    }
}

/// Whether independent audit applies to any of `releases` under `profile`.
pub fn audit_required(profile: &Profile, releases: &[Release]) -> bool {
    releases.iter().any(|r| profile.audit_required(*r))
}
