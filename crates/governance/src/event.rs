//! Every change to governance state is one of these events; state is their projection.
//!
//! The serde form is the stored form: internally tagged JSON objects (`"type": "issue_raised"`),
//! wrapped in [`VersionedEvent`] which adds `"schema": "meterlab.governance/1"`. Fields are only
//! ever added with defaults; a breaking change gets a new schema variant.

use serde::{Deserialize, Serialize};

use crate::date::{PlanDate, Timestamp};
use crate::model::{
    CaseId, CaseSpec, CaseStatus, ChangeClass, CycleId, DmcComponents, DmcId, DnbKey, DnbStatus,
    EntryKey, IssueId, IssueStatus, PhaseId, Release, Severity, SmsoId,
};

/// A test case in a phase: what an issue links to and what a de-scope cites.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CaseRef {
    pub phase: PhaseId,
    pub case: CaseId,
}

/// Where a Testing Issue was seen: a phase, optionally narrowed to one case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IssueLink {
    pub phase: PhaseId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<CaseId>,
}

/// The rule profile a recorded decision was taken under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProfileRef {
    pub name: String,
    pub version: String,
}

/// A request to de-scope a case because an equivalent test has passed (rule 7).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DescopeRequest {
    pub phase: PhaseId,
    pub case: CaseId,
    /// The equivalent test whose last attempt must have passed.
    pub cited: CaseRef,
    pub rationale: String,
}

/// One attempt at one test case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaseResult {
    pub phase: PhaseId,
    pub case: CaseId,
    /// Hash of the case definition that ran, so a changed case is visible in the audit trail.
    pub case_hash: String,
    pub device: String,
    /// 1-based, per device. The highest attempt that ran counts: a later `not_run` (the case was
    /// not executed) never hides the pass or failure before it.
    pub attempt: u32,
    pub status: CaseStatus,
}

/// A governance event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    SmsoRegistered {
        smso: SmsoId,
        name: String,
    },
    DmcRegistered {
        dmc: DmcId,
        components: DmcComponents,
        /// The de-selected DMC this one replaces after a model change (rule 8).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        supersedes: Option<DmcId>,
    },
    DmcDeselected {
        dmc: DmcId,
        reason: String,
    },
    /// Reintroduction after a firmware-only change, with the TAG consultation it relied on.
    DmcReintroduced {
        dmc: DmcId,
        components: DmcComponents,
        tag_consultation: String,
    },
    EntryPlanned {
        entry: EntryKey,
    },
    CycleDeclared {
        cycle: CycleId,
        release: Release,
        smso: SmsoId,
        entries: Vec<EntryKey>,
    },
    PhaseRegistered {
        phase: PhaseId,
    },
    /// A new revision of a Depth & Breadth case list; the document returns to `draft`.
    DnbDrafted {
        doc: DnbKey,
        revision: u32,
        cases: Vec<CaseSpec>,
    },
    DnbStatusChanged {
        doc: DnbKey,
        status: DnbStatus,
        #[serde(default)]
        note: String,
    },
    /// The party that disputed a Depth & Breadth document withdraws the dispute before referral;
    /// the document returns to `draft` with the dispute and its withdrawal in its history. The
    /// only other ways out of a dispute are agreement and referral (then determination).
    DnbDisputeWithdrawn {
        doc: DnbKey,
        /// Who withdrew it (the principal or the person named in the request).
        by: String,
        reason: String,
    },
    PhaseStarted {
        phase: PhaseId,
        /// When the phase or regression run started, as the client reported it; absent from
        /// events written before start times were recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<Timestamp>,
    },
    ResultRecorded(CaseResult),
    IssueRaised {
        issue: IssueId,
        severity: Severity,
        title: String,
        /// What was seen; absent from events written before descriptions were recorded.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        description: String,
        links: Vec<IssueLink>,
    },
    /// The issue's description is replaced (the previous text stays in the log).
    IssueDescribed {
        issue: IssueId,
        description: String,
    },
    IssueLinked {
        issue: IssueId,
        link: IssueLink,
    },
    IssueSeverityChanged {
        issue: IssueId,
        severity: Severity,
        reason: String,
    },
    IssueStatusChanged {
        issue: IssueId,
        status: IssueStatus,
        /// For `known_defect`, the workaround (required).
        #[serde(default)]
        note: String,
    },
    CaseDescoped(DescopeRequest),
    /// The exit decision for a phase, taken on an `exit` verdict under the named profile.
    PhaseExited {
        phase: PhaseId,
        profile: ProfileRef,
        /// When the phase or regression run finished, as the client reported it; absent from
        /// events written before finish times were recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<Timestamp>,
    },
    ChangeRecorded {
        entry: EntryKey,
        class: ChangeClass,
        description: String,
    },
    TimetablePlanned {
        phase: PhaseId,
        start: PlanDate,
        end: PlanDate,
        #[serde(default)]
        reason: String,
    },
    /// A re-plan (SVTAD 8.7): history is kept, never edited.
    TimetableAmended {
        phase: PhaseId,
        start: PlanDate,
        end: PlanDate,
        reason: String,
    },
}

/// The schema tag stored with every event.
pub const EVENT_SCHEMA: &str = "meterlab.governance/1";

/// An event as stored: `{"schema": "meterlab.governance/1", "type": ..., ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "schema")]
pub enum VersionedEvent {
    #[serde(rename = "meterlab.governance/1")]
    V1(Event),
}

impl VersionedEvent {
    pub fn into_event(self) -> Event {
        match self {
            VersionedEvent::V1(e) => e,
        }
    }
}

impl From<Event> for VersionedEvent {
    fn from(e: Event) -> Self {
        VersionedEvent::V1(e)
    }
}

/// Shorthands for the hypothetical events a what-if usually asks about.
impl Event {
    pub fn close_issue(issue: IssueId) -> Event {
        Event::IssueStatusChanged {
            issue,
            status: IssueStatus::Closed,
            note: "what-if".to_string(),
        }
    }

    pub fn change_severity(issue: IssueId, severity: Severity) -> Event {
        Event::IssueSeverityChanged {
            issue,
            severity,
            reason: "what-if".to_string(),
        }
    }

    pub fn descope(phase: PhaseId, case: CaseId, cited: CaseRef, rationale: &str) -> Event {
        Event::CaseDescoped(DescopeRequest {
            phase,
            case,
            cited,
            rationale: rationale.to_string(),
        })
    }

    /// The cases whose results decide whether the projection accepts this event: a writer must
    /// not let results for them be stored between checking the event and storing it. Only a
    /// de-scope depends on results (rule 7: its cited case must have passed); a result's own
    /// validity depends on its attempt alone, and phase exits are not refused by the projection.
    pub fn result_dependencies(&self) -> Vec<CaseRef> {
        match self {
            Event::CaseDescoped(request) => vec![request.cited.clone()],
            _ => Vec::new(),
        }
    }

    /// The serde tag of the event, e.g. `issue_raised`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SmsoRegistered { .. } => "smso_registered",
            Event::DmcRegistered { .. } => "dmc_registered",
            Event::DmcDeselected { .. } => "dmc_deselected",
            Event::DmcReintroduced { .. } => "dmc_reintroduced",
            Event::EntryPlanned { .. } => "entry_planned",
            Event::CycleDeclared { .. } => "cycle_declared",
            Event::PhaseRegistered { .. } => "phase_registered",
            Event::DnbDrafted { .. } => "dnb_drafted",
            Event::DnbStatusChanged { .. } => "dnb_status_changed",
            Event::DnbDisputeWithdrawn { .. } => "dnb_dispute_withdrawn",
            Event::PhaseStarted { .. } => "phase_started",
            Event::ResultRecorded(_) => "result_recorded",
            Event::IssueRaised { .. } => "issue_raised",
            Event::IssueDescribed { .. } => "issue_described",
            Event::IssueLinked { .. } => "issue_linked",
            Event::IssueSeverityChanged { .. } => "issue_severity_changed",
            Event::IssueStatusChanged { .. } => "issue_status_changed",
            Event::CaseDescoped(_) => "case_descoped",
            Event::PhaseExited { .. } => "phase_exited",
            Event::ChangeRecorded { .. } => "change_recorded",
            Event::TimetablePlanned { .. } => "timetable_planned",
            Event::TimetableAmended { .. } => "timetable_amended",
        }
    }

    /// A payload type name for an event store, e.g. `governance.issue_raised.v1`.
    pub fn payload_type(&self) -> String {
        format!("governance.{}.v1", self.kind())
    }

    /// One line describing the event, for what-if assumptions and audit listings.
    pub fn describe(&self) -> String {
        match self {
            Event::SmsoRegistered { smso, .. } => format!("register SMSO {smso}"),
            Event::DmcRegistered { dmc, .. } => format!("register DMC {dmc}"),
            Event::DmcDeselected { dmc, .. } => format!("de-select DMC {dmc}"),
            Event::DmcReintroduced { dmc, .. } => format!("reintroduce DMC {dmc}"),
            Event::EntryPlanned { entry } => format!("plan entry {entry}"),
            Event::CycleDeclared { cycle, .. } => format!("declare cycle {cycle}"),
            Event::PhaseRegistered { phase } => format!("register phase {phase}"),
            Event::DnbDrafted { doc, revision, .. } => format!("draft {doc} revision {revision}"),
            Event::DnbStatusChanged { doc, status, .. } => {
                format!("{doc} becomes {}", status.as_str())
            }
            Event::DnbDisputeWithdrawn { doc, by, .. } => {
                format!("{by} withdraws the dispute of {doc}")
            }
            Event::PhaseStarted { phase, .. } => format!("start {phase}"),
            Event::ResultRecorded(r) => format!(
                "{} case {} device {} attempt {} {}",
                r.phase,
                r.case,
                r.device,
                r.attempt,
                r.status.as_str()
            ),
            Event::IssueRaised {
                issue, severity, ..
            } => {
                format!("raise issue {issue} at {severity}")
            }
            Event::IssueDescribed { issue, .. } => format!("describe issue {issue}"),
            Event::IssueLinked { issue, link } => format!("link issue {issue} to {}", link.phase),
            Event::IssueSeverityChanged {
                issue, severity, ..
            } => format!("issue {issue} becomes {severity}"),
            Event::IssueStatusChanged { issue, status, .. } => {
                format!("issue {issue} becomes {}", status.as_str())
            }
            Event::CaseDescoped(d) => format!("de-scope {} case {}", d.phase, d.case),
            Event::PhaseExited { phase, .. } => format!("exit {phase}"),
            Event::ChangeRecorded { entry, class, .. } => format!("{class:?} change to {entry}"),
            Event::TimetablePlanned { phase, .. } => format!("plan timetable of {phase}"),
            Event::TimetableAmended { phase, .. } => format!("re-plan timetable of {phase}"),
        }
    }
}
