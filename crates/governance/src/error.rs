//! Errors of the governance engine: rejected events and invalid rule profiles.

use std::fmt;

use thiserror::Error;

use crate::model::{CaseId, DmcId, DnbKey, DnbStatus, EntryKey, IssueId, PhaseId};

/// An event the projection refuses: applying it would make the state inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("severity {0} is outside 1..=5")]
    BadSeverity(u8),
    #[error("unknown SMSO {0}")]
    UnknownSmso(String),
    #[error("SMSO {0} is already registered")]
    DuplicateSmso(String),
    #[error("unknown DMC {0}")]
    UnknownDmc(DmcId),
    #[error("DMC {0} is already registered")]
    DuplicateDmc(DmcId),
    #[error("unknown planned entry {0}")]
    UnknownEntry(EntryKey),
    #[error("planned entry {0} already exists")]
    DuplicateEntry(EntryKey),
    #[error("unknown cycle {0}")]
    UnknownCycle(String),
    #[error("cycle {0} already declared")]
    DuplicateCycle(String),
    #[error("entry {entry} does not belong to release {release} / SMSO {smso} of cycle {cycle}")]
    CycleEntryMismatch {
        cycle: String,
        entry: Box<EntryKey>,
        release: String,
        smso: String,
    },
    #[error("unknown phase {0}")]
    UnknownPhase(Box<PhaseId>),
    #[error("phase {0} is already registered")]
    DuplicatePhase(Box<PhaseId>),
    #[error("phase {0} has already started")]
    AlreadyStarted(Box<PhaseId>),
    #[error("phase {0} has already exited")]
    AlreadyExited(Box<PhaseId>),
    #[error("phase {0} has not started")]
    NotStarted(Box<PhaseId>),
    #[error("unknown Depth & Breadth document {0}")]
    UnknownDnb(DnbKey),
    #[error("{doc}: revision {given} must be greater than the current revision {current}")]
    StaleDnbRevision {
        doc: DnbKey,
        given: u32,
        current: u32,
    },
    #[error("{doc}: case {case} is listed twice")]
    DuplicateCaseSpec { doc: DnbKey, case: CaseId },
    #[error(
        "{doc} is {status}: a dispute ends only by agreement, by referral and determination, or by a recorded withdrawal naming who withdrew it and why"
    )]
    DisputeNotEnded { doc: DnbKey, status: &'static str },
    #[error("{doc} is {status}, not disputed, so there is no dispute to withdraw")]
    NoDisputeToWithdraw { doc: DnbKey, status: &'static str },
    #[error("{doc}: status cannot change from {from} to {to}")]
    BadDnbTransition {
        doc: DnbKey,
        from: &'static str,
        to: &'static str,
    },
    #[error("phase {phase} case {case}: attempt {attempt} on device {device} is already recorded")]
    DuplicateAttempt {
        phase: Box<PhaseId>,
        case: CaseId,
        device: String,
        attempt: u32,
    },
    #[error("phase {phase} case {case}: attempt numbers start at 1")]
    ZeroAttempt { phase: Box<PhaseId>, case: CaseId },
    #[error("Testing Issue {0} is unknown")]
    UnknownIssue(IssueId),
    #[error("Testing Issue {0} already exists")]
    DuplicateIssue(IssueId),
    #[error("Testing Issue {0}: a known defect must record its workaround")]
    KnownDefectWithoutWorkaround(IssueId),
    #[error("Testing Issue {0} must be linked to at least one phase")]
    IssueWithoutPhase(IssueId),
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("de-scope of {phase} case {case} rejected: {reasons}")]
    DescopeRejected {
        phase: Box<PhaseId>,
        case: CaseId,
        reasons: String,
    },
    #[error("phase {phase} case {case} is already de-scoped")]
    AlreadyDescoped { phase: Box<PhaseId>, case: CaseId },
    #[error("DMC {0} is already de-selected")]
    AlreadyDeselected(DmcId),
    #[error("DMC {0} is not de-selected, so it cannot be reintroduced")]
    NotDeselected(DmcId),
    #[error(
        "DMC {dmc}: {what}; a model change makes a new DMC with a full phase set (SVTAD 13.11)"
    )]
    ModelChangeNeedsNewDmc { dmc: DmcId, what: String },
    #[error("bad date {0:?}: expected YYYY-MM-DD")]
    BadDate(String),
    #[error("bad timestamp: {0}")]
    BadTimestamp(String),
    #[error("timetable for {phase}: end {end} is before start {start}")]
    WindowReversed {
        phase: Box<PhaseId>,
        start: String,
        end: String,
    },
    #[error("timetable for {0} is already planned: amend it instead")]
    AlreadyPlanned(Box<PhaseId>),
    #[error("timetable for {0} was never planned")]
    NotPlanned(Box<PhaseId>),
}

impl DomainError {
    pub(crate) fn bad_transition(doc: &DnbKey, from: DnbStatus, to: DnbStatus) -> Self {
        DomainError::BadDnbTransition {
            doc: doc.clone(),
            from: from.as_str(),
            to: to.as_str(),
        }
    }
}

/// One problem in a rule profile, with the line (1-based) it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileIssue {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ProfileIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A rule profile that cannot be used; lists every problem found, not just the first.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("rule profile {source_name} is invalid ({} problem(s)):\n{}", .issues.len(), render_issues(.source_name, .issues))]
pub struct ProfileError {
    pub source_name: String,
    pub issues: Vec<ProfileIssue>,
}

fn render_issues(source: &str, issues: &[ProfileIssue]) -> String {
    issues
        .iter()
        .map(|i| format!("  {source}:{}: {}", i.line, i.message))
        .collect::<Vec<_>>()
        .join("\n")
}
