//! Domain vocabulary: releases, SMSOs, DMCs, planned EPCL entries, test phases and their keys.
//!
//! Every key here has a stable serde form because it appears inside stored events.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;

/// A capability release: the cohort of SMETS1 devices a planned entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Release {
    #[serde(rename = "IOC")]
    Ioc,
    #[serde(rename = "MOC")]
    Moc,
    #[serde(rename = "FOC")]
    Foc,
}

impl Release {
    pub const ALL: [Release; 3] = [Release::Ioc, Release::Moc, Release::Foc];

    pub fn as_str(self) -> &'static str {
        match self {
            Release::Ioc => "IOC",
            Release::Moc => "MOC",
            Release::Foc => "FOC",
        }
    }

    pub fn parse(text: &str) -> Option<Release> {
        Release::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A SMETS1 Service Operator, whose head-end protocol one adapter plugin speaks.
    SmsoId
);
string_id!(
    /// A Device Model Combination.
    DmcId
);
string_id!(
    /// A test case identifier as listed in a Depth & Breadth document.
    CaseId
);
string_id!(
    /// A Service Request Variant, e.g. `4.1.1`.
    Srv
);
string_id!(
    /// A test cycle that groups planned entries for end-of-cycle regression.
    CycleId
);

/// A Testing Issue number.
pub type IssueId = u64;

/// Migration Testing or Systems Integration Testing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestType {
    Mt,
    Sit,
}

impl TestType {
    pub const ALL: [TestType; 2] = [TestType::Mt, TestType::Sit];

    pub fn as_str(self) -> &'static str {
        match self {
            TestType::Mt => "mt",
            TestType::Sit => "sit",
        }
    }
}

/// Installation mode of the devices a phase tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Active,
    Dormant,
    Mixed,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Active, Mode::Dormant, Mode::Mixed];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Active => "active",
            Mode::Dormant => "dormant",
            Mode::Mixed => "mixed",
        }
    }
}

/// The kind of a test phase within its planned entry, e.g. `sit.dormant`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PhaseKind {
    pub test: TestType,
    pub mode: Mode,
}

impl PhaseKind {
    /// The six phase kinds every planned entry needs (rule 1).
    pub fn all() -> impl Iterator<Item = PhaseKind> {
        TestType::ALL.into_iter().flat_map(|test| {
            Mode::ALL
                .into_iter()
                .map(move |mode| PhaseKind { test, mode })
        })
    }

    /// Parses `mt.active`, `sit.mixed`, ...
    pub fn parse(text: &str) -> Option<PhaseKind> {
        PhaseKind::all().find(|k| k.to_string() == text)
    }
}

impl fmt::Display for PhaseKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.test.as_str(), self.mode.as_str())
    }
}

/// A planned entry on the Eligible Product Combinations List.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntryKey {
    pub release: Release,
    pub smso: SmsoId,
    pub dmc: DmcId,
}

impl fmt::Display for EntryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.release, self.smso, self.dmc)
    }
}

/// One MT or SIT test phase of a planned entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TestPhase {
    pub entry: EntryKey,
    pub kind: PhaseKind,
}

/// The three regression runs of a cycle (seed §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionKind {
    MtEnd,
    SitEnd,
    Combined,
}

impl RegressionKind {
    pub const ALL: [RegressionKind; 3] = [
        RegressionKind::MtEnd,
        RegressionKind::SitEnd,
        RegressionKind::Combined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RegressionKind::MtEnd => "mt_end",
            RegressionKind::SitEnd => "sit_end",
            RegressionKind::Combined => "combined",
        }
    }
}

/// What a regression run covers: one planned entry, or a declared cycle of entries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegressionScope {
    Entry(EntryKey),
    Cycle(CycleId),
}

impl fmt::Display for RegressionScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegressionScope::Entry(e) => write!(f, "entry {e}"),
            RegressionScope::Cycle(c) => write!(f, "cycle {c}"),
        }
    }
}

/// One regression run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RegressionRun {
    pub scope: RegressionScope,
    pub kind: RegressionKind,
}

/// Anything results, issues and de-scopes attach to: a test phase or a regression run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseId {
    Test(TestPhase),
    Regression(RegressionRun),
}

impl PhaseId {
    pub fn test(entry: EntryKey, test: TestType, mode: Mode) -> Self {
        PhaseId::Test(TestPhase {
            entry,
            kind: PhaseKind { test, mode },
        })
    }

    pub fn regression(scope: RegressionScope, kind: RegressionKind) -> Self {
        PhaseId::Regression(RegressionRun { scope, kind })
    }

    /// The planned entry whose aggregate limit this phase counts towards, if any.
    pub fn entry(&self) -> Option<&EntryKey> {
        match self {
            PhaseId::Test(t) => Some(&t.entry),
            PhaseId::Regression(RegressionRun {
                scope: RegressionScope::Entry(e),
                ..
            }) => Some(e),
            PhaseId::Regression(_) => None,
        }
    }

    pub fn is_regression(&self) -> bool {
        matches!(self, PhaseId::Regression(_))
    }
}

impl fmt::Display for PhaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhaseId::Test(t) => write!(f, "{} {}", t.entry, t.kind),
            PhaseId::Regression(r) => write!(f, "{} regression {}", r.scope, r.kind.as_str()),
        }
    }
}

/// What a Depth & Breadth document covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocType {
    Mt,
    Sit,
    Regression,
}

impl From<TestType> for DocType {
    fn from(t: TestType) -> Self {
        match t {
            TestType::Mt => DocType::Mt,
            TestType::Sit => DocType::Sit,
        }
    }
}

/// A Depth & Breadth document: (release, SMSO, test type).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DnbKey {
    pub release: Release,
    pub smso: SmsoId,
    pub doc_type: DocType,
}

impl fmt::Display for DnbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = match self.doc_type {
            DocType::Mt => "MT",
            DocType::Sit => "SIT",
            DocType::Regression => "regression",
        };
        write!(f, "Depth & Breadth of {t} ({}/{})", self.release, self.smso)
    }
}

/// Status of a Depth & Breadth document (rule 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnbStatus {
    Draft,
    Agreed,
    Disputed,
    Referred,
    Determined,
}

impl DnbStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DnbStatus::Draft => "draft",
            DnbStatus::Agreed => "agreed",
            DnbStatus::Disputed => "disputed",
            DnbStatus::Referred => "referred",
            DnbStatus::Determined => "determined",
        }
    }

    /// Whether a phase may rely on the document's case list.
    pub fn is_settled(self) -> bool {
        matches!(self, DnbStatus::Agreed | DnbStatus::Determined)
    }

    /// Whether the document is in dispute, so dependent phases are `pending`.
    pub fn is_in_dispute(self) -> bool {
        matches!(self, DnbStatus::Disputed | DnbStatus::Referred)
    }

    /// The status changes rule 10 allows: draft → agreed, or draft → disputed → referred →
    /// determined; a dispute may also be settled by agreement before referral. A settled
    /// document returns to draft only through a new revision, a disputed one only through an
    /// explicit withdrawal (`Event::DnbDisputeWithdrawn`).
    pub fn can_become(self, next: DnbStatus) -> bool {
        use DnbStatus::*;
        matches!(
            (self, next),
            (Draft, Agreed)
                | (Draft, Disputed)
                | (Disputed, Agreed)
                | (Disputed, Referred)
                | (Referred, Determined)
        )
    }
}

/// One case of a Depth & Breadth list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaseSpec {
    pub case: CaseId,
    pub srv: Srv,
    /// Modes of the phases that must run this case; empty means every mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modes: Vec<Mode>,
}

impl CaseSpec {
    pub fn applies_to(&self, phase: &PhaseId) -> bool {
        match phase {
            PhaseId::Test(t) => self.modes.is_empty() || self.modes.contains(&t.kind.mode),
            PhaseId::Regression(_) => true,
        }
    }
}

/// Status of one attempt at a test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Passed,
    Failed,
    Blocked,
    NotRun,
    Descoped,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 5] = [
        CaseStatus::Passed,
        CaseStatus::Failed,
        CaseStatus::Blocked,
        CaseStatus::NotRun,
        CaseStatus::Descoped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Passed => "passed",
            CaseStatus::Failed => "failed",
            CaseStatus::Blocked => "blocked",
            CaseStatus::NotRun => "not_run",
            CaseStatus::Descoped => "descoped",
        }
    }
}

/// Testing Issue severity, 1 (worst) to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Severity(u8);

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity(1),
        Severity(2),
        Severity(3),
        Severity(4),
        Severity(5),
    ];

    pub fn new(level: u8) -> Result<Severity, DomainError> {
        if (1..=5).contains(&level) {
            Ok(Severity(level))
        } else {
            Err(DomainError::BadSeverity(level))
        }
    }

    pub fn level(self) -> u8 {
        self.0
    }

    /// Zero-based index for per-severity counter arrays.
    pub fn index(self) -> usize {
        usize::from(self.0 - 1)
    }
}

impl TryFrom<u8> for Severity {
    type Error = DomainError;
    fn try_from(level: u8) -> Result<Self, Self::Error> {
        Severity::new(level)
    }
}

impl From<Severity> for u8 {
    fn from(s: Severity) -> u8 {
        s.0
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sev{}", self.0)
    }
}

/// Testing Issue status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueStatus {
    Open,
    /// A fix is delivered but not yet verified: still outstanding for the limits.
    Fixed,
    Closed,
    /// Accepted with a workaround; counted only where the profile says so.
    KnownDefect,
}

impl IssueStatus {
    pub const ALL: [IssueStatus; 4] = [
        IssueStatus::Open,
        IssueStatus::Fixed,
        IssueStatus::Closed,
        IssueStatus::KnownDefect,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IssueStatus::Open => "open",
            IssueStatus::Fixed => "fixed",
            IssueStatus::Closed => "closed",
            IssueStatus::KnownDefect => "known_defect",
        }
    }

    pub fn index(self) -> usize {
        match self {
            IssueStatus::Open => 0,
            IssueStatus::Fixed => 1,
            IssueStatus::Closed => 2,
            IssueStatus::KnownDefect => 3,
        }
    }
}

/// Whether a recorded change to an entry is major (seed §2: voids the regression exception).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeClass {
    Major,
    Minor,
}

/// One device model with its firmware version.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeviceModel {
    pub manufacturer: String,
    pub model: String,
    pub firmware: String,
}

/// The devices a DMC is made of.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DmcComponents {
    pub comms_hub: DeviceModel,
    pub esme: Option<DeviceModel>,
    pub gsme: Option<DeviceModel>,
    #[serde(default)]
    pub ppmid: Option<DeviceModel>,
    #[serde(default)]
    pub ihd: Option<DeviceModel>,
}

/// How a proposed DMC differs from a registered one (rule 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DmcChange {
    None,
    FirmwareOnly,
    Model,
}

impl DmcComponents {
    fn slots(&self) -> [(&'static str, Option<&DeviceModel>); 5] {
        [
            ("comms hub", Some(&self.comms_hub)),
            ("ESME", self.esme.as_ref()),
            ("GSME", self.gsme.as_ref()),
            ("PPMID", self.ppmid.as_ref()),
            ("IHD", self.ihd.as_ref()),
        ]
    }

    /// Classifies the change from `self` to `proposed`, naming the devices that changed.
    pub fn change_to(&self, proposed: &DmcComponents) -> (DmcChange, Vec<String>) {
        let mut change = DmcChange::None;
        let mut what = Vec::new();
        for ((slot, old), (_, new)) in self.slots().into_iter().zip(proposed.slots()) {
            match (old, new) {
                (None, None) => {}
                (Some(a), Some(b)) if a.manufacturer == b.manufacturer && a.model == b.model => {
                    if a.firmware != b.firmware {
                        if change == DmcChange::None {
                            change = DmcChange::FirmwareOnly;
                        }
                        what.push(format!("{slot} firmware {} -> {}", a.firmware, b.firmware));
                    }
                }
                _ => {
                    change = DmcChange::Model;
                    what.push(format!("{slot} model changed"));
                }
            }
        }
        (change, what)
    }
}
