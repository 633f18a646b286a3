//! What the client sends and gets back where the governance domain has no type of its own (a
//! request's shape, an answer's bookkeeping). Keys, statuses, severities and verdicts are the
//! governance engine's own types.

use meterlab_governance::Verdict;
use meterlab_governance::model::{
    CaseId, CaseSpec, DmcComponents, DmcId, DnbKey, EntryKey, IssueStatus, RegressionKind,
    RegressionScope, Severity, TestPhase,
};
use serde::Serialize;

/// Where a write landed in the governance log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// 1-based position of the appended event.
    pub log_position: u64,
    /// SHA-256 of the event, chained to its predecessor's (hex).
    pub event_sha256: String,
}

/// A planned entry: where it was recorded and the phases rule 1 requires of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedEntry {
    pub recorded: Recorded,
    pub required_phases: Vec<TestPhase>,
}

/// The answer to a phase start: the entry-criteria verdict, and whether the start was recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseStart {
    pub started: bool,
    pub entry_criteria: Verdict,
    pub recorded: Option<Recorded>,
}

/// One case of a Depth & Breadth document, with the content hash of the case definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnbCase {
    pub spec: CaseSpec,
    /// SHA-256 of the case definition (32 bytes).
    pub content_sha256: [u8; 32],
}

/// A Depth & Breadth document to register (it starts as draft).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnbDocument {
    pub key: DnbKey,
    pub version: String,
    pub cases: Vec<DnbCase>,
}

/// A case in a phase (what issues link to and de-scopes cite).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PhaseCase {
    pub phase: TestPhase,
    pub case: CaseId,
}

/// A Testing Issue as the gateway holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestingIssue {
    pub id: String,
    pub severity: Severity,
    pub status: IssueStatus,
    pub title: String,
    pub description: String,
    /// Set for a known defect.
    pub workaround: Option<String>,
    pub phases: Vec<TestPhase>,
    pub cases: Vec<PhaseCase>,
    /// Position of the latest event that changed the issue.
    pub log_position: u64,
}

/// A Testing Issue to raise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewIssue {
    /// `None` lets the gateway assign one.
    pub id: Option<String>,
    pub severity: Severity,
    pub title: String,
    pub description: String,
    pub phases: Vec<TestPhase>,
    pub cases: Vec<PhaseCase>,
}

/// Changes to a Testing Issue; `None` leaves a field as it is, links are only ever added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IssueUpdate {
    pub severity: Option<Severity>,
    pub status: Option<IssueStatus>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub workaround: Option<String>,
    pub add_phases: Vec<TestPhase>,
    pub add_cases: Vec<PhaseCase>,
}

/// Which Testing Issues to list; empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueFilter {
    pub entry: Option<EntryKey>,
    pub phase: Option<TestPhase>,
    pub statuses: Vec<IssueStatus>,
    /// Inclusive severity bounds.
    pub min_severity: Option<Severity>,
    pub max_severity: Option<Severity>,
}

/// The prior result a de-scope cites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitedResult {
    pub case: PhaseCase,
    /// A particular device and attempt; `None` means the last attempt on any device.
    pub device_and_attempt: Option<(String, u32)>,
}

/// A de-scope request (rule 7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescopeRequest {
    pub case: PhaseCase,
    pub cited: CitedResult,
    pub rationale: String,
}

/// One condition rule 7 checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescopeCheck {
    /// e.g. `cited_result_passed`.
    pub condition: String,
    pub satisfied: bool,
    pub explanation: String,
}

/// The answer to a de-scope request; a refusal is an answer, not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DescopeDecision {
    pub accepted: bool,
    pub checks: Vec<DescopeCheck>,
    pub recorded: Option<Recorded>,
}

/// A regression run to record (rule 6): registered if new, started when `started_at` is set,
/// exit recorded when `finished_at` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegressionRecord {
    pub regression_id: String,
    pub scope: RegressionScope,
    pub kind: RegressionKind,
    pub run_id: String,
    pub on_migrated_devices: bool,
    pub case_ids: Vec<CaseId>,
    pub started_at: Option<std::time::SystemTime>,
    pub finished_at: Option<std::time::SystemTime>,
}

/// A DMC change (rule 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DmcChangeKind {
    /// The DMC leaves testing.
    Deselected,
    /// A de-selected DMC comes back unchanged.
    Reintroduced { changed: DmcComponents },
    /// A de-selected DMC comes back with new firmware.
    FirmwareOnly { changed: DmcComponents },
    /// A new DMC (new id) supersedes this one.
    ModelChange {
        new_id: DmcId,
        changed: DmcComponents,
    },
}

/// A DMC change to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DmcChangeRequest {
    pub dmc: DmcId,
    pub kind: DmcChangeKind,
    pub major: bool,
    pub reason: String,
    pub tag_consultation: String,
}

/// What a DMC change needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DmcChangeOutcome {
    pub recorded: Recorded,
    /// `none`, `tag` or `full`.
    pub route: String,
    pub required_phases: Vec<TestPhase>,
}

/// A hypothetical event for what-if.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Hypothetical {
    /// An existing issue changed.
    UpdateIssue { id: String, update: IssueUpdate },
    /// A new issue.
    RaiseIssue(NewIssue),
    /// A de-scope.
    Descope(DescopeRequest),
}

/// What-if: the current and the hypothetical verdict, and the events that would be refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhatIf {
    pub current: Verdict,
    pub hypothetical: Verdict,
    /// (index into the hypothetical events, why refused).
    pub rejected: Vec<(u32, String)>,
}

/// Cases of a phase by counting status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CaseCounts {
    pub planned: u32,
    pub passed: u32,
    pub failed: u32,
    pub blocked: u32,
    pub not_run: u32,
    pub descoped: u32,
    /// Planned cases with no result at all.
    pub missing: u32,
}

impl CaseCounts {
    /// Planned cases passed or validly de-scoped: what rule 4's coverage counts (a failed case
    /// has a result but covers nothing).
    pub fn covered(&self) -> u32 {
        self.passed + self.descoped
    }
}

/// One phase of a completion report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseReport {
    pub phase: TestPhase,
    pub verdict: Verdict,
    pub counts: CaseCounts,
    pub depth_breadth_version: String,
}

/// Issues of one severity and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueTally {
    pub severity: Severity,
    pub status: IssueStatus,
    pub count: u32,
}

/// A completion report (rule 9): the structured part, and the rendered document if asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompletionReport {
    pub profile_name: String,
    pub profile_version: String,
    pub illustrative: bool,
    pub phases: Vec<PhaseReport>,
    pub entry_verdicts: Vec<Verdict>,
    pub issue_tallies: Vec<IssueTally>,
    pub issues: Vec<TestingIssue>,
    pub audit_required: bool,
    /// Who recorded each decision in the report's scope (D&B agreements, de-scopes, issue
    /// closures), in log order.
    pub decisions: Vec<RecordedDecision>,
    pub log_position: u64,
    /// `text/markdown` or `text/html`; empty for a structured report.
    pub media_type: String,
    #[serde(skip)]
    pub rendered: Vec<u8>,
}

/// A decision a verdict rests on and the principal who recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedDecision {
    /// `dnb-agreed <doc>`, `descoped <phase> <case>` or `issue-closed <issue>`.
    pub decision: String,
    pub actor: String,
    pub log_position: u64,
}

/// The format of a completion report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Structured,
    Markdown,
    Html,
}

#[cfg(test)]
mod tests {
    use super::CaseCounts;

    #[test]
    fn coverage_counts_what_rule_4_counts() {
        let counts = CaseCounts {
            planned: 7,
            passed: 5,
            failed: 1,
            descoped: 1,
            ..CaseCounts::default()
        };
        assert_eq!(counts.covered(), 6, "the failed case covers nothing");
    }
}
