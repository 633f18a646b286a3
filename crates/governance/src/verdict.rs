//! Structured verdicts: the outcome and every criterion that led to it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::ProfileRef;
use crate::model::{CaseId, DmcId, EntryKey, PhaseId, RegressionScope};
use crate::profile::{Limit, Profile};

/// The outcome of an evaluation. For requests (start, de-scope, reintroduction, re-plan) `exit`
/// reads as "granted": every criterion is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Exit,
    NotMet,
    Blocked,
    Pending,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Exit => "exit",
            Outcome::NotMet => "not_met",
            Outcome::Blocked => "blocked",
            Outcome::Pending => "pending",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of one criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionOutcome {
    Met,
    NotMet,
    /// Met on its own terms, but something wider (the entry's aggregate limit, a de-selected
    /// DMC) stops it.
    Blocked,
    /// Cannot be decided yet, e.g. the Depth & Breadth document is referred.
    Pending,
    /// Shown for information; it does not decide the verdict (e.g. the entry's aggregate limit
    /// on a phase verdict when the profile lets the aggregate gate the entry only).
    Information,
}

impl CriterionOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CriterionOutcome::Met => "met",
            CriterionOutcome::NotMet => "not_met",
            CriterionOutcome::Blocked => "blocked",
            CriterionOutcome::Pending => "pending",
            CriterionOutcome::Information => "information",
        }
    }

    /// Whether the criterion takes part in deciding the verdict.
    pub fn decides(self) -> bool {
        self != CriterionOutcome::Information
    }
}

/// A measured value or a limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Quantity {
    Count(u64),
    Limit(Limit),
    /// e.g. 412 of 420 cases.
    Fraction {
        num: u64,
        den: u64,
    },
    Text(String),
    Flag(bool),
    /// No data: never satisfies a criterion.
    Missing,
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quantity::Count(n) => write!(f, "{n}"),
            Quantity::Limit(l) => write!(f, "{l}"),
            Quantity::Fraction { num, den } => write!(f, "{num}/{den}"),
            Quantity::Text(t) => f.write_str(t),
            Quantity::Flag(b) => f.write_str(if *b { "yes" } else { "no" }),
            Quantity::Missing => f.write_str("missing"),
        }
    }
}

impl Quantity {
    pub fn text(t: impl Into<String>) -> Quantity {
        Quantity::Text(t.into())
    }
}

/// One criterion of a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// The rule of `governance.md`, 1..=11.
    pub rule: u8,
    /// A stable identifier, e.g. `4.issues.sev3`.
    pub id: String,
    /// Where the rule comes from, e.g. `SVTAD Table 13.3; 13.21-13.23`.
    pub clause: String,
    pub measured: Quantity,
    pub limit: Quantity,
    pub outcome: CriterionOutcome,
    /// One sentence.
    pub explanation: String,
}

/// What was evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    PhaseExit(PhaseId),
    PhaseStart(PhaseId),
    Entry(EntryKey),
    Regression(RegressionScope),
    Descope { phase: PhaseId, case: CaseId },
    Reintroduction(DmcId),
    Replan(PhaseId),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::PhaseExit(p) => write!(f, "exit of {p}"),
            Subject::PhaseStart(p) => write!(f, "start of {p}"),
            Subject::Entry(e) => write!(f, "planned entry {e}"),
            Subject::Regression(s) => write!(f, "regression of {s}"),
            Subject::Descope { phase, case } => write!(f, "de-scope of {phase} case {case}"),
            Subject::Reintroduction(d) => write!(f, "reintroduction of DMC {d}"),
            Subject::Replan(p) => write!(f, "re-plan of {p}"),
        }
    }
}

/// A structured verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub subject: Subject,
    pub outcome: Outcome,
    pub profile: ProfileRef,
    pub illustrative_profile: bool,
    /// Number of events the projection had applied (hypothetical ones included).
    pub at_seq: u64,
    /// Hypothetical events this verdict assumed; empty for a real verdict.
    pub assumptions: Vec<String>,
    pub criteria: Vec<Criterion>,
}

impl Verdict {
    /// Combines criteria: any `pending` makes the verdict pending (the facts may still change),
    /// else any `not_met` makes it not met, else any `blocked` blocks it. No criteria at all is
    /// `not_met`: missing data is never a pass. Criteria shown for information do not count.
    pub fn new(subject: Subject, profile: &Profile, at_seq: u64, criteria: Vec<Criterion>) -> Self {
        let has = |o: CriterionOutcome| criteria.iter().any(|c| c.outcome == o);
        let outcome = if !criteria.iter().any(|c| c.outcome.decides()) {
            Outcome::NotMet
        } else if has(CriterionOutcome::Pending) {
            Outcome::Pending
        } else if has(CriterionOutcome::NotMet) {
            Outcome::NotMet
        } else if has(CriterionOutcome::Blocked) {
            Outcome::Blocked
        } else {
            Outcome::Exit
        };
        Verdict {
            subject,
            outcome,
            profile: profile.reference(),
            illustrative_profile: profile.illustrative,
            at_seq,
            assumptions: Vec::new(),
            criteria,
        }
    }

    pub fn is_exit(&self) -> bool {
        self.outcome == Outcome::Exit
    }

    /// Criteria that are not met, blocked or pending (information never fails).
    pub fn failing(&self) -> impl Iterator<Item = &Criterion> {
        self.criteria
            .iter()
            .filter(|c| c.outcome.decides() && c.outcome != CriterionOutcome::Met)
    }

    pub fn criterion(&self, id: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.id == id)
    }
}
