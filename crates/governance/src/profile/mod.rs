//! Rule profiles: every number the rules use, versioned, loaded from TOML.
//!
//! The numeric limits of the real SVTAD tables are not public in a verifiable form, so nothing is
//! hard-coded: a profile says how many open Testing Issues of each severity a phase, a regression
//! run and a planned entry may carry, how known defects count, which phases precede which, and
//! which releases need independent audit.

mod load;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::event::ProfileRef;
use crate::model::{PhaseKind, Release, Severity, TestType};

pub use load::load_profile;

/// The most issues of one severity that may be outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Max(u32),
    Unlimited,
}

impl Limit {
    pub fn allows(self, count: u64) -> bool {
        match self {
            Limit::Max(max) => count <= u64::from(max),
            Limit::Unlimited => true,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Max(n) => write!(f, "{n}"),
            Limit::Unlimited => f.write_str("unlimited"),
        }
    }
}

/// One limit per severity, index 0 = severity 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityLimits(pub [Limit; 5]);

impl SeverityLimits {
    pub fn get(&self, severity: Severity) -> Limit {
        self.0[severity.index()]
    }
}

/// A partial override of [`SeverityLimits`] for some phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LimitOverride(pub [Option<Limit>; 5]);

/// Where known defects count towards limits (SVTAD Table 13.1 counts them for regression exit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownDefectTreatment {
    pub count_in_phase_exit: bool,
    pub count_in_regression_exit: bool,
    pub count_in_aggregate: bool,
}

/// Which verdicts the aggregate limit (rule 5) gates.
///
/// `Entry` (the default) follows `governance.md`: an entry over its aggregate limit is blocked
/// "even if every phase exits on its own", so phases still exit (and the regression exception of
/// rule 6, which rests on recorded exits, can apply); a phase verdict shows the aggregate as
/// information only. `Phase` is for a stricter board: no phase of an entry over its aggregate
/// limit may exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateGates {
    #[default]
    Entry,
    Phase,
}

impl AggregateGates {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateGates::Entry => "entry",
            AggregateGates::Phase => "phase",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "entry" => Some(AggregateGates::Entry),
            "phase" => Some(AggregateGates::Phase),
            _ => None,
        }
    }
}

/// The context a limit is applied in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitContext {
    PhaseExit,
    RegressionExit,
    Aggregate,
}

/// A validated rule profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub version: String,
    /// Illustrative profiles carry numbers nobody has verified against the SVTAD; every verdict
    /// and report says so.
    pub illustrative: bool,
    pub description: String,
    pub phase_limits: SeverityLimits,
    /// Overrides by test type (`mt`, `sit`) and by phase kind (`sit.dormant`), most specific wins.
    pub test_type_overrides: BTreeMap<TestType, LimitOverride>,
    pub phase_kind_overrides: BTreeMap<PhaseKind, LimitOverride>,
    pub regression_limits: SeverityLimits,
    pub aggregate_limits: SeverityLimits,
    /// Which verdicts rule 5 gates; profiles written before the setting read as `entry`.
    #[serde(default)]
    pub aggregate_gates: AggregateGates,
    pub known_defects: KnownDefectTreatment,
    /// Phases of the same entry that must have exited before a phase may start (rule 3).
    pub precursors: BTreeMap<PhaseKind, Vec<PhaseKind>>,
    pub audit_required_for: BTreeSet<Release>,
}

impl Profile {
    pub fn reference(&self) -> ProfileRef {
        ProfileRef {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    /// The limit for one severity at the exit of a phase of this kind.
    pub fn phase_limit(&self, kind: PhaseKind, severity: Severity) -> Limit {
        let i = severity.index();
        self.phase_kind_overrides
            .get(&kind)
            .and_then(|o| o.0[i])
            .or_else(|| {
                self.test_type_overrides
                    .get(&kind.test)
                    .and_then(|o| o.0[i])
            })
            .unwrap_or(self.phase_limits.0[i])
    }

    pub fn counts_known_defects(&self, context: LimitContext) -> bool {
        match context {
            LimitContext::PhaseExit => self.known_defects.count_in_phase_exit,
            LimitContext::RegressionExit => self.known_defects.count_in_regression_exit,
            LimitContext::Aggregate => self.known_defects.count_in_aggregate,
        }
    }

    pub fn precursors_of(&self, kind: PhaseKind) -> &[PhaseKind] {
        self.precursors.get(&kind).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn audit_required(&self, release: Release) -> bool {
        self.audit_required_for.contains(&release)
    }
}

/// The illustrative profile shipped in `suites/profiles/illustrative.toml`.
pub const ILLUSTRATIVE_TOML: &str = include_str!("../../../../suites/profiles/illustrative.toml");
/// The stricter profile shipped in `suites/profiles/strict.toml`.
pub const STRICT_TOML: &str = include_str!("../../../../suites/profiles/strict.toml");
