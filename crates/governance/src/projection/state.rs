//! The records the projection keeps, and the counters the rules read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::date::{PlanDate, Timestamp};
use crate::event::{CaseRef, DescopeRequest, IssueLink, ProfileRef};
use crate::model::{
    CaseId, CaseSpec, CaseStatus, ChangeClass, DmcComponents, DmcId, DnbKey, DnbStatus, EntryKey,
    IssueId, IssueStatus, PhaseId, Release, Severity, SmsoId, Srv,
};
use crate::profile::{LimitContext, Profile};

/// Testing Issue counts by status and severity: `[status][severity]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IssueCounts(pub [[u32; 5]; 4]);

impl IssueCounts {
    pub fn get(&self, status: IssueStatus, severity: Severity) -> u32 {
        self.0[status.index()][severity.index()]
    }

    pub(crate) fn add(&mut self, status: IssueStatus, severity: Severity) {
        self.0[status.index()][severity.index()] += 1;
    }

    pub(crate) fn remove(&mut self, status: IssueStatus, severity: Severity) {
        let slot = &mut self.0[status.index()][severity.index()];
        debug_assert!(*slot > 0, "issue counter underflow");
        *slot = slot.saturating_sub(1);
    }

    /// Issues of one severity that count against a limit in `context`: open and fixed (a fix
    /// not yet verified is still outstanding), plus known defects where the profile says so.
    pub fn outstanding(&self, severity: Severity, profile: &Profile, context: LimitContext) -> u64 {
        let mut n = u64::from(self.get(IssueStatus::Open, severity))
            + u64::from(self.get(IssueStatus::Fixed, severity));
        if profile.counts_known_defects(context) {
            n += u64::from(self.get(IssueStatus::KnownDefect, severity));
        }
        n
    }
}

/// Results recorded in one phase or regression run, every attempt on every device, by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResultTally([u32; 5]);

impl ResultTally {
    fn index(status: CaseStatus) -> usize {
        match status {
            CaseStatus::Passed => 0,
            CaseStatus::Failed => 1,
            CaseStatus::Blocked => 2,
            CaseStatus::NotRun => 3,
            CaseStatus::Descoped => 4,
        }
    }

    pub fn get(&self, status: CaseStatus) -> u32 {
        self.0[Self::index(status)]
    }

    /// Every result recorded.
    pub fn total(&self) -> u64 {
        self.0.iter().map(|n| u64::from(*n)).sum()
    }

    pub(crate) fn add(&mut self, status: CaseStatus) {
        let slot = &mut self.0[Self::index(status)];
        *slot = slot.saturating_add(1);
    }
}

/// Required-case coverage of one phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Cases the phase's Depth & Breadth list requires.
    pub required: u32,
    /// Required cases whose last attempt passed.
    pub passed: u32,
    /// Required cases not passed but covered by a valid de-scope.
    pub descoped: u32,
}

impl Coverage {
    pub fn satisfied(&self) -> u32 {
        self.passed + self.descoped
    }
}

/// One attempt at a case, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub attempt: u32,
    pub status: CaseStatus,
    pub device: String,
    pub case_hash: String,
    pub seq: u64,
}

/// Every attempt at one case in one phase, on every device that ran it. On each device the
/// last attempt that ran counts: the highest-numbered one that is not `not_run`, or the highest
/// `not_run` when nothing ran there. A `not_run` says the case was not executed (the device was
/// leased by another run, unhealthy, or the run was cancelled first), so it tells nothing about
/// the device and never hides the pass or failure of an earlier attempt. The case passes only
/// when the counting attempt of every device passed (two meters of a DMC each have to pass the
/// case), otherwise it takes the worst status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaseRecord {
    /// Ordered by (device, attempt): an attempt is identified by its device and number.
    pub attempts: Vec<Attempt>,
    /// The combined status, kept up to date by [`CaseRecord::insert`].
    status: Option<CaseStatus>,
}

/// Worst first: the status a case takes when its devices disagree.
fn badness(status: CaseStatus) -> u8 {
    match status {
        CaseStatus::Failed => 0,
        CaseStatus::Blocked => 1,
        CaseStatus::NotRun => 2,
        CaseStatus::Descoped => 3,
        CaseStatus::Passed => 4,
    }
}

/// The counting attempt among one device's attempts (ordered by number).
fn counting_among(attempts: &[Attempt]) -> Option<&Attempt> {
    attempts
        .iter()
        .rev()
        .find(|a| a.status != CaseStatus::NotRun)
        .or_else(|| attempts.last())
}

impl CaseRecord {
    /// The attempt that counts on each device, in device order.
    pub fn counting(&self) -> impl Iterator<Item = &Attempt> {
        self.attempts
            .chunk_by(|a, b| a.device == b.device)
            .filter_map(counting_among)
    }

    /// The attempt that counts on `device`.
    pub fn counting_on(&self, device: &str) -> Option<&Attempt> {
        self.counting().find(|a| a.device == device)
    }

    /// The highest-numbered attempt recorded on `device`, whatever its status: the number the
    /// next attempt follows.
    pub fn last_on(&self, device: &str) -> Option<&Attempt> {
        self.attempts.iter().rev().find(|a| a.device == device)
    }

    /// Whether `attempt` on `device` is recorded.
    pub fn has_attempt(&self, device: &str, attempt: u32) -> bool {
        self.position(device, attempt).is_ok()
    }

    /// The status the case has: passed when every device's counting attempt passed, otherwise
    /// the worst counting status; `None` without any attempt.
    pub fn last_status(&self) -> Option<CaseStatus> {
        self.status
    }

    fn position(&self, device: &str, attempt: u32) -> Result<usize, usize> {
        self.attempts
            .binary_search_by(|a| (a.device.as_str(), a.attempt).cmp(&(device, attempt)))
    }

    /// Records an attempt; `false` (and nothing changes) if that device's attempt is recorded.
    pub(crate) fn insert(&mut self, attempt: Attempt) -> bool {
        let Err(at) = self.position(&attempt.device, attempt.attempt) else {
            return false;
        };
        self.attempts.insert(at, attempt);
        self.status = self
            .counting()
            .map(|a| a.status)
            .min_by_key(|s| badness(*s));
        true
    }
}

/// An accepted de-scope and whether it still holds (its cited result may fail a retest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescopeRecord {
    pub request: DescopeRequest,
    pub seq: u64,
    pub valid: bool,
}

/// One version of a phase's planned window; amendments append, never edit (rule 11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimetableVersion {
    pub seq: u64,
    pub start: PlanDate,
    pub end: PlanDate,
    pub reason: String,
}

/// The bulky part of a phase: cases and de-scopes. Kept behind its own `Arc` so that a what-if
/// touching only a phase's issue counters does not copy its results.
#[derive(Debug, Clone, Default)]
pub(crate) struct PhaseRecords {
    /// Cases required of this phase (from its document's list, filtered by mode), with their SRV.
    pub(crate) required: HashMap<CaseId, Srv>,
    pub(crate) cases: HashMap<CaseId, CaseRecord>,
    pub(crate) descopes: BTreeMap<CaseId, DescopeRecord>,
}

/// State of one test phase or regression run.
#[derive(Debug, Clone)]
pub struct PhaseState {
    pub(crate) id: PhaseId,
    pub(crate) doc: DnbKey,
    pub(crate) started: Option<u64>,
    /// When it started, where the start event says.
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) exited: Option<(u64, ProfileRef)>,
    /// When it finished (the exit decision), where the exit event says.
    pub(crate) exited_at: Option<Timestamp>,
    pub(crate) results: ResultTally,
    pub(crate) records: Arc<PhaseRecords>,
    pub(crate) coverage: Coverage,
    pub(crate) issues: IssueCounts,
    pub(crate) timetable: Vec<TimetableVersion>,
}

impl PhaseState {
    pub(crate) fn new(id: PhaseId, doc: DnbKey) -> Self {
        PhaseState {
            id,
            doc,
            started: None,
            started_at: None,
            exited: None,
            exited_at: None,
            results: ResultTally::default(),
            records: Arc::default(),
            coverage: Coverage::default(),
            issues: IssueCounts::default(),
            timetable: Vec::new(),
        }
    }

    pub fn id(&self) -> &PhaseId {
        &self.id
    }
    /// The Depth & Breadth document this phase's case list comes from.
    pub fn doc(&self) -> &DnbKey {
        &self.doc
    }
    /// Sequence number of the start event, if started.
    pub fn started(&self) -> Option<u64> {
        self.started
    }
    /// Sequence number and profile of the exit decision, if exited.
    pub fn exited(&self) -> Option<&(u64, ProfileRef)> {
        self.exited.as_ref()
    }
    /// When the phase started, if started by an event that says so.
    pub fn started_at(&self) -> Option<Timestamp> {
        self.started_at
    }
    /// When the phase finished (its exit decision), if exited by an event that says so.
    pub fn exited_at(&self) -> Option<Timestamp> {
        self.exited_at
    }
    /// Every result recorded in the phase (all attempts, all devices), by status.
    pub fn result_tally(&self) -> ResultTally {
        self.results
    }
    pub fn coverage(&self) -> Coverage {
        self.coverage
    }
    pub fn issue_counts(&self) -> &IssueCounts {
        &self.issues
    }
    pub fn case(&self, case: &CaseId) -> Option<&CaseRecord> {
        self.records.cases.get(case)
    }
    pub fn is_required(&self, case: &CaseId) -> bool {
        self.records.required.contains_key(case)
    }
    pub fn descopes(&self) -> impl Iterator<Item = &DescopeRecord> {
        self.records.descopes.values()
    }
    pub fn timetable(&self) -> &[TimetableVersion] {
        &self.timetable
    }
    /// Required cases neither passed nor validly de-scoped, sorted, with their last status.
    pub fn unsatisfied(&self) -> Vec<(CaseId, Option<CaseStatus>)> {
        self.unsatisfied_first(usize::MAX)
    }

    /// The first `n` (in case order) of [`Self::unsatisfied`], without sorting the rest.
    pub fn unsatisfied_first(&self, n: usize) -> Vec<(CaseId, Option<CaseStatus>)> {
        if self.coverage.satisfied() >= self.coverage.required || n == 0 {
            return Vec::new();
        }
        let mut out: Vec<&CaseId> = self
            .records
            .required
            .keys()
            .filter(|c| !self.is_satisfied(c))
            .collect();
        if out.len() > n {
            out.select_nth_unstable(n - 1);
            out.truncate(n);
        }
        out.sort_unstable();
        out.into_iter()
            .map(|c| {
                let status = self.records.cases.get(c).and_then(CaseRecord::last_status);
                (c.clone(), status)
            })
            .collect()
    }

    pub(crate) fn is_passed(&self, case: &CaseId) -> bool {
        self.records
            .cases
            .get(case)
            .and_then(CaseRecord::last_status)
            == Some(CaseStatus::Passed)
    }

    pub(crate) fn is_satisfied(&self, case: &CaseId) -> bool {
        self.is_passed(case) || self.records.descopes.get(case).is_some_and(|d| d.valid)
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) one case's contribution to coverage.
    pub(crate) fn count_case(&mut self, case: &CaseId, add: bool) {
        if !self.records.required.contains_key(case) {
            return;
        }
        let passed = self.is_passed(case);
        let descoped = !passed && self.records.descopes.get(case).is_some_and(|d| d.valid);
        let c = &mut self.coverage;
        if add {
            c.passed += u32::from(passed);
            c.descoped += u32::from(descoped);
        } else {
            c.passed -= u32::from(passed);
            c.descoped -= u32::from(descoped);
        }
    }
}

/// A registered DMC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmcState {
    pub components: DmcComponents,
    pub supersedes: Option<DmcId>,
    pub deselected: Option<String>,
    /// TAG consultation references of firmware-only reintroductions.
    pub reintroductions: Vec<String>,
}

/// A change recorded against a planned entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    pub seq: u64,
    pub class: ChangeClass,
    pub description: String,
}

/// A planned EPCL entry.
#[derive(Debug, Clone, Default)]
pub struct EntryState {
    pub(crate) phases: BTreeSet<PhaseId>,
    pub(crate) issues: IssueCounts,
    pub(crate) changes: Vec<ChangeRecord>,
}

impl EntryState {
    pub fn phases(&self) -> &BTreeSet<PhaseId> {
        &self.phases
    }
    /// Each issue counted once across all phases of the entry.
    pub fn issue_counts(&self) -> &IssueCounts {
        &self.issues
    }
    pub fn changes(&self) -> &[ChangeRecord] {
        &self.changes
    }
}

/// A declared test cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleState {
    pub release: Release,
    pub smso: SmsoId,
    pub entries: Vec<EntryKey>,
}

/// A Depth & Breadth document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnbState {
    pub status: DnbStatus,
    pub revision: u32,
    pub cases: BTreeMap<CaseId, CaseSpec>,
    /// (seq, status, note) for every status the document has had.
    pub history: Vec<(u64, DnbStatus, String)>,
}

/// One change in an issue's life, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueChange {
    pub seq: u64,
    pub what: String,
}

/// A Testing Issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub id: IssueId,
    pub title: String,
    /// What was seen, as the raiser described it (empty when none was given).
    pub description: String,
    pub severity: Severity,
    pub status: IssueStatus,
    pub workaround: Option<String>,
    pub links: BTreeSet<IssueLink>,
    pub phases: BTreeSet<PhaseId>,
    pub entries: BTreeSet<EntryKey>,
    pub history: Vec<IssueChange>,
}

/// A reason a de-scope request cannot be accepted (rule 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescopeFailure {
    UnknownPhase,
    NotRequired,
    CitesItself,
    CitedMissing,
    CitedNotPassed(Option<CaseStatus>),
    SrvUnknown,
    SrvMismatch { target: Srv, cited: Srv },
    NoRationale,
}

/// Facts about a de-scope request, measured for rule 7.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescopeFacts {
    pub target_srv: Option<Srv>,
    pub cited_srv: Option<Srv>,
    pub cited_status: Option<CaseStatus>,
    pub failures: Vec<DescopeFailure>,
}

/// Where a case ref points, for the citation index.
pub(crate) type Citations = HashMap<CaseRef, BTreeSet<CaseRef>>;
