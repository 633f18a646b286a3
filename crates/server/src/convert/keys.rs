//! Keys and enums: `meterlab.v1` <-> governance domain. Each `*_from_proto` names the offending
//! field relative to the message it was given; callers prefix the path with [`FieldError::under`].

use meterlab_governance::model::{
    CaseStatus, CycleId, DmcId, DnbKey, DnbStatus, DocType, EntryKey, IssueStatus, Mode, PhaseId,
    RegressionKind, RegressionRun, RegressionScope, Release, SmsoId, TestType,
};
use meterlab_proto::v1 as pb;

use crate::error::FieldError;

/// An enum field whose raw value must be one the API defines (UNSPECIFIED is checked by callers).
fn known<E: TryFrom<i32>>(field: &str, raw: i32, name: &str) -> Result<E, FieldError> {
    E::try_from(raw)
        .map_err(|_| FieldError::new(field, format!("{raw} is not a valid {name} value")))
}

pub fn release_from_proto(field: &str, raw: i32) -> Result<Release, FieldError> {
    let r: pb::CapabilityRelease = known(field, raw, "CapabilityRelease")?;
    match r {
        pb::CapabilityRelease::Ioc => Ok(Release::Ioc),
        pb::CapabilityRelease::Moc => Ok(Release::Moc),
        pb::CapabilityRelease::Foc => Ok(Release::Foc),
        pb::CapabilityRelease::Unspecified => Err(unspecified(field, "CapabilityRelease")),
    }
}

pub fn release_to_proto(r: Release) -> pb::CapabilityRelease {
    match r {
        Release::Ioc => pb::CapabilityRelease::Ioc,
        Release::Moc => pb::CapabilityRelease::Moc,
        Release::Foc => pb::CapabilityRelease::Foc,
    }
}

pub fn test_type_from_proto(field: &str, raw: i32) -> Result<TestType, FieldError> {
    match known(field, raw, "TestType")? {
        pb::TestType::Mt => Ok(TestType::Mt),
        pb::TestType::Sit => Ok(TestType::Sit),
        pb::TestType::Unspecified => Err(unspecified(field, "TestType")),
    }
}

pub fn test_type_to_proto(t: TestType) -> pb::TestType {
    match t {
        TestType::Mt => pb::TestType::Mt,
        TestType::Sit => pb::TestType::Sit,
    }
}

pub fn mode_from_proto(field: &str, raw: i32) -> Result<Mode, FieldError> {
    match known(field, raw, "InstallationMode")? {
        pb::InstallationMode::Active => Ok(Mode::Active),
        pb::InstallationMode::Dormant => Ok(Mode::Dormant),
        pb::InstallationMode::Mixed => Ok(Mode::Mixed),
        pb::InstallationMode::Unspecified => Err(unspecified(field, "InstallationMode")),
    }
}

pub fn mode_to_proto(m: Mode) -> pb::InstallationMode {
    match m {
        Mode::Active => pb::InstallationMode::Active,
        Mode::Dormant => pb::InstallationMode::Dormant,
        Mode::Mixed => pb::InstallationMode::Mixed,
    }
}

pub fn case_status_from_proto(field: &str, raw: i32) -> Result<CaseStatus, FieldError> {
    match known(field, raw, "CaseStatus")? {
        pb::CaseStatus::Passed => Ok(CaseStatus::Passed),
        pb::CaseStatus::Failed => Ok(CaseStatus::Failed),
        pb::CaseStatus::Blocked => Ok(CaseStatus::Blocked),
        pb::CaseStatus::NotRun => Ok(CaseStatus::NotRun),
        pb::CaseStatus::Descoped => Ok(CaseStatus::Descoped),
        pb::CaseStatus::Unspecified => Err(unspecified(field, "CaseStatus")),
    }
}

pub fn case_status_to_proto(s: CaseStatus) -> pb::CaseStatus {
    match s {
        CaseStatus::Passed => pb::CaseStatus::Passed,
        CaseStatus::Failed => pb::CaseStatus::Failed,
        CaseStatus::Blocked => pb::CaseStatus::Blocked,
        CaseStatus::NotRun => pb::CaseStatus::NotRun,
        CaseStatus::Descoped => pb::CaseStatus::Descoped,
    }
}

pub fn issue_status_from_proto(field: &str, raw: i32) -> Result<IssueStatus, FieldError> {
    match known(field, raw, "IssueStatus")? {
        pb::IssueStatus::Open => Ok(IssueStatus::Open),
        pb::IssueStatus::Fixed => Ok(IssueStatus::Fixed),
        pb::IssueStatus::Closed => Ok(IssueStatus::Closed),
        pb::IssueStatus::KnownDefect => Ok(IssueStatus::KnownDefect),
        pb::IssueStatus::Unspecified => Err(unspecified(field, "IssueStatus")),
    }
}

pub fn issue_status_to_proto(s: IssueStatus) -> pb::IssueStatus {
    match s {
        IssueStatus::Open => pb::IssueStatus::Open,
        IssueStatus::Fixed => pb::IssueStatus::Fixed,
        IssueStatus::Closed => pb::IssueStatus::Closed,
        IssueStatus::KnownDefect => pb::IssueStatus::KnownDefect,
    }
}

pub fn dnb_status_from_proto(field: &str, raw: i32) -> Result<DnbStatus, FieldError> {
    match known(field, raw, "DepthBreadthStatus")? {
        pb::DepthBreadthStatus::Draft => Ok(DnbStatus::Draft),
        pb::DepthBreadthStatus::Agreed => Ok(DnbStatus::Agreed),
        pb::DepthBreadthStatus::Disputed => Ok(DnbStatus::Disputed),
        pb::DepthBreadthStatus::Referred => Ok(DnbStatus::Referred),
        pb::DepthBreadthStatus::Determined => Ok(DnbStatus::Determined),
        pb::DepthBreadthStatus::Unspecified => Err(unspecified(field, "DepthBreadthStatus")),
    }
}

fn unspecified(field: &str, name: &str) -> FieldError {
    FieldError::new(field, format!("must be set (got {name} UNSPECIFIED)"))
}

/// A required identifier: non-empty after trimming.
pub fn required_text(field: &str, text: &str) -> Result<String, FieldError> {
    if text.trim().is_empty() {
        Err(FieldError::new(field, "must not be empty"))
    } else {
        Ok(text.to_owned())
    }
}

/// A required sub-message.
pub fn required<'a, T>(field: &str, value: &'a Option<T>) -> Result<&'a T, FieldError> {
    value
        .as_ref()
        .ok_or_else(|| FieldError::new(field, "is required but missing"))
}

pub fn entry_from_proto(entry: &pb::EntryKey) -> Result<EntryKey, FieldError> {
    Ok(EntryKey {
        release: release_from_proto("release", entry.release)?,
        smso: SmsoId::new(required_text("smso_id", &entry.smso_id)?),
        dmc: DmcId::new(required_text("dmc_id", &entry.dmc_id)?),
    })
}

pub fn entry_to_proto(entry: &EntryKey) -> pb::EntryKey {
    pb::EntryKey {
        release: release_to_proto(entry.release).into(),
        smso_id: entry.smso.to_string(),
        dmc_id: entry.dmc.to_string(),
    }
}

/// `field` names the PhaseKey itself, e.g. `phase` or `result.phase`.
pub fn phase_from_proto(field: &str, phase: &Option<pb::PhaseKey>) -> Result<PhaseId, FieldError> {
    let phase = required(field, phase)?;
    let inner = || -> Result<PhaseId, FieldError> {
        let entry =
            entry_from_proto(required("entry", &phase.entry)?).map_err(|e| e.under("entry"))?;
        Ok(PhaseId::test(
            entry,
            test_type_from_proto("test_type", phase.test_type)?,
            mode_from_proto("mode", phase.mode)?,
        ))
    };
    inner().map_err(|e| e.under(field))
}

/// Regression runs have no `PhaseKey` in the API; they are reported through their entry.
pub fn phase_to_proto(phase: &PhaseId) -> Option<pb::PhaseKey> {
    match phase {
        PhaseId::Test(t) => Some(pb::PhaseKey {
            entry: Some(entry_to_proto(&t.entry)),
            test_type: test_type_to_proto(t.kind.test).into(),
            mode: mode_to_proto(t.kind.mode).into(),
        }),
        PhaseId::Regression(_) => None,
    }
}

pub fn regression_kind_from_proto(field: &str, raw: i32) -> Result<RegressionKind, FieldError> {
    match known(field, raw, "RegressionKind")? {
        pb::RegressionKind::MtEnd => Ok(RegressionKind::MtEnd),
        pb::RegressionKind::SitEnd => Ok(RegressionKind::SitEnd),
        pb::RegressionKind::Combined => Ok(RegressionKind::Combined),
        pb::RegressionKind::Unspecified => Err(unspecified(field, "RegressionKind")),
    }
}

/// The scope oneof of a regression key or run (an entry or a cycle id); errors name `entry`,
/// `cycle_id` or `scope` relative to the message holding it.
pub fn regression_scope_from_proto(
    entry: Option<&pb::EntryKey>,
    cycle: Option<&str>,
) -> Result<RegressionScope, FieldError> {
    match (entry, cycle) {
        (Some(e), _) => Ok(RegressionScope::Entry(
            entry_from_proto(e).map_err(|err| err.under("entry"))?,
        )),
        (None, Some(c)) => Ok(RegressionScope::Cycle(CycleId::new(required_text(
            "cycle_id", c,
        )?))),
        (None, None) => Err(FieldError::new(
            "scope",
            "one of entry or cycle_id is required",
        )),
    }
}

pub fn regression_kind_to_proto(k: RegressionKind) -> pb::RegressionKind {
    match k {
        RegressionKind::MtEnd => pb::RegressionKind::MtEnd,
        RegressionKind::SitEnd => pb::RegressionKind::SitEnd,
        RegressionKind::Combined => pb::RegressionKind::Combined,
    }
}

/// A regression run as the `RegressionKey` its results carry.
pub fn regression_to_proto(run: &RegressionRun) -> pb::RegressionKey {
    use pb::regression_key::Scope;
    pb::RegressionKey {
        scope: Some(match &run.scope {
            RegressionScope::Entry(e) => Scope::Entry(entry_to_proto(e)),
            RegressionScope::Cycle(c) => Scope::CycleId(c.to_string()),
        }),
        kind: regression_kind_to_proto(run.kind).into(),
    }
}

/// A `RegressionKey` -> the regression run it names; `field` names the key itself.
pub fn regression_from_proto(
    field: &str,
    key: &Option<pb::RegressionKey>,
) -> Result<PhaseId, FieldError> {
    use pb::regression_key::Scope;
    let key = required(field, key)?;
    let inner = || -> Result<PhaseId, FieldError> {
        let scope = match &key.scope {
            Some(Scope::Entry(e)) => regression_scope_from_proto(Some(e), None)?,
            Some(Scope::CycleId(c)) => regression_scope_from_proto(None, Some(c))?,
            None => regression_scope_from_proto(None, None)?,
        };
        Ok(PhaseId::regression(
            scope,
            regression_kind_from_proto("kind", key.kind)?,
        ))
    };
    inner().map_err(|e| e.under(field))
}

pub fn dnb_key_from_proto(
    field: &str,
    key: &Option<pb::DepthBreadthKey>,
) -> Result<DnbKey, FieldError> {
    let key = required(field, key)?;
    let inner = || -> Result<DnbKey, FieldError> {
        let doc_type = if key.regression {
            if key.test_type != i32::from(pb::TestType::Unspecified) {
                return Err(FieldError::new(
                    "test_type",
                    "must be UNSPECIFIED for the regression list (regression = true)",
                ));
            }
            DocType::Regression
        } else {
            DocType::from(test_type_from_proto("test_type", key.test_type)?)
        };
        Ok(DnbKey {
            release: release_from_proto("release", key.release)?,
            smso: SmsoId::new(required_text("smso_id", &key.smso_id)?),
            doc_type,
        })
    };
    inner().map_err(|e| e.under(field))
}

/// A SHA-256 given as bytes: exactly 32 of them, rendered as lowercase hex in the domain.
pub fn sha256_hex(field: &str, bytes: &[u8]) -> Result<String, FieldError> {
    if bytes.len() != 32 {
        return Err(FieldError::new(
            field,
            format!("must be a 32-byte SHA-256, got {} bytes", bytes.len()),
        ));
    }
    Ok(hex::encode(bytes))
}
