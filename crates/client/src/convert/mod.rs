//! Governance domain <-> `meterlab.v1` protobuf, client side. Requests are built from domain
//! values; answers are read back into domain values, and an answer this client cannot read is an
//! error naming the field (never a silent default).

use meterlab_governance::event::ProfileRef;
use meterlab_governance::model::{
    CaseId, CycleId, DeviceModel, DmcComponents, DmcId, DnbKey, DnbStatus, DocType, EntryKey,
    IssueStatus, Mode, PhaseKind, RegressionKind, RegressionScope, Release, Severity, SmsoId,
    TestPhase, TestType,
};
use meterlab_governance::profile::Limit;
use meterlab_governance::{Criterion, CriterionOutcome, Outcome, Quantity, Subject, Verdict};
use meterlab_proto::v1 as pb;

/// A field of an answer that cannot be read: (field path, problem).
pub type FieldProblem = (String, String);

fn problem(field: &str, text: impl Into<String>) -> FieldProblem {
    (field.to_owned(), text.into())
}

fn under(prefix: &str) -> impl Fn(FieldProblem) -> FieldProblem + '_ {
    move |(field, text)| (format!("{prefix}.{field}"), text)
}

pub fn release_to_proto(release: Release) -> pb::CapabilityRelease {
    match release {
        Release::Ioc => pb::CapabilityRelease::Ioc,
        Release::Moc => pb::CapabilityRelease::Moc,
        Release::Foc => pb::CapabilityRelease::Foc,
    }
}

pub fn release_from_proto(field: &str, raw: i32) -> Result<Release, FieldProblem> {
    match pb::CapabilityRelease::try_from(raw) {
        Ok(pb::CapabilityRelease::Ioc) => Ok(Release::Ioc),
        Ok(pb::CapabilityRelease::Moc) => Ok(Release::Moc),
        Ok(pb::CapabilityRelease::Foc) => Ok(Release::Foc),
        _ => Err(problem(field, format!("{raw} is not a capability release"))),
    }
}

pub fn test_type_to_proto(test: TestType) -> pb::TestType {
    match test {
        TestType::Mt => pb::TestType::Mt,
        TestType::Sit => pb::TestType::Sit,
    }
}

pub fn test_type_from_proto(field: &str, raw: i32) -> Result<TestType, FieldProblem> {
    match pb::TestType::try_from(raw) {
        Ok(pb::TestType::Mt) => Ok(TestType::Mt),
        Ok(pb::TestType::Sit) => Ok(TestType::Sit),
        _ => Err(problem(field, format!("{raw} is not a test type"))),
    }
}

pub fn mode_to_proto(mode: Mode) -> pb::InstallationMode {
    match mode {
        Mode::Active => pb::InstallationMode::Active,
        Mode::Dormant => pb::InstallationMode::Dormant,
        Mode::Mixed => pb::InstallationMode::Mixed,
    }
}

pub fn mode_from_proto(field: &str, raw: i32) -> Result<Mode, FieldProblem> {
    match pb::InstallationMode::try_from(raw) {
        Ok(pb::InstallationMode::Active) => Ok(Mode::Active),
        Ok(pb::InstallationMode::Dormant) => Ok(Mode::Dormant),
        Ok(pb::InstallationMode::Mixed) => Ok(Mode::Mixed),
        _ => Err(problem(field, format!("{raw} is not an installation mode"))),
    }
}

pub fn entry_to_proto(entry: &EntryKey) -> pb::EntryKey {
    pb::EntryKey {
        release: release_to_proto(entry.release).into(),
        smso_id: entry.smso.to_string(),
        dmc_id: entry.dmc.to_string(),
    }
}

pub fn entry_from_proto(entry: &pb::EntryKey) -> Result<EntryKey, FieldProblem> {
    if entry.smso_id.is_empty() {
        return Err(problem("smso_id", "is empty"));
    }
    if entry.dmc_id.is_empty() {
        return Err(problem("dmc_id", "is empty"));
    }
    Ok(EntryKey {
        release: release_from_proto("release", entry.release)?,
        smso: SmsoId::new(entry.smso_id.clone()),
        dmc: DmcId::new(entry.dmc_id.clone()),
    })
}

pub fn phase_to_proto(phase: &TestPhase) -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(entry_to_proto(&phase.entry)),
        test_type: test_type_to_proto(phase.kind.test).into(),
        mode: mode_to_proto(phase.kind.mode).into(),
    }
}

pub fn phase_from_proto(phase: &pb::PhaseKey) -> Result<TestPhase, FieldProblem> {
    let entry = phase
        .entry
        .as_ref()
        .ok_or_else(|| problem("entry", "is missing"))?;
    Ok(TestPhase {
        entry: entry_from_proto(entry).map_err(under("entry"))?,
        kind: PhaseKind {
            test: test_type_from_proto("test_type", phase.test_type)?,
            mode: mode_from_proto("mode", phase.mode)?,
        },
    })
}

pub fn case_ref_to_proto(phase: &TestPhase, case: &CaseId) -> pb::CaseRef {
    pb::CaseRef {
        phase: Some(phase_to_proto(phase)),
        case_id: case.to_string(),
    }
}

pub fn regression_kind_to_proto(kind: RegressionKind) -> pb::RegressionKind {
    match kind {
        RegressionKind::MtEnd => pb::RegressionKind::MtEnd,
        RegressionKind::SitEnd => pb::RegressionKind::SitEnd,
        RegressionKind::Combined => pb::RegressionKind::Combined,
    }
}

pub fn dnb_key_to_proto(key: &DnbKey) -> pb::DepthBreadthKey {
    let (test_type, regression) = match key.doc_type {
        DocType::Mt => (pb::TestType::Mt, false),
        DocType::Sit => (pb::TestType::Sit, false),
        DocType::Regression => (pb::TestType::Unspecified, true),
    };
    pb::DepthBreadthKey {
        release: release_to_proto(key.release).into(),
        smso_id: key.smso.to_string(),
        test_type: test_type.into(),
        regression,
    }
}

pub fn dnb_key_from_proto(key: &pb::DepthBreadthKey) -> Result<DnbKey, FieldProblem> {
    let doc_type = if key.regression {
        DocType::Regression
    } else {
        DocType::from(test_type_from_proto("test_type", key.test_type)?)
    };
    Ok(DnbKey {
        release: release_from_proto("release", key.release)?,
        smso: SmsoId::new(key.smso_id.clone()),
        doc_type,
    })
}

pub fn dnb_status_to_proto(status: DnbStatus) -> pb::DepthBreadthStatus {
    match status {
        DnbStatus::Draft => pb::DepthBreadthStatus::Draft,
        DnbStatus::Agreed => pb::DepthBreadthStatus::Agreed,
        DnbStatus::Disputed => pb::DepthBreadthStatus::Disputed,
        DnbStatus::Referred => pb::DepthBreadthStatus::Referred,
        DnbStatus::Determined => pb::DepthBreadthStatus::Determined,
    }
}

pub fn issue_status_to_proto(status: IssueStatus) -> pb::IssueStatus {
    match status {
        IssueStatus::Open => pb::IssueStatus::Open,
        IssueStatus::Fixed => pb::IssueStatus::Fixed,
        IssueStatus::Closed => pb::IssueStatus::Closed,
        IssueStatus::KnownDefect => pb::IssueStatus::KnownDefect,
    }
}

pub fn issue_status_from_proto(field: &str, raw: i32) -> Result<IssueStatus, FieldProblem> {
    match pb::IssueStatus::try_from(raw) {
        Ok(pb::IssueStatus::Open) => Ok(IssueStatus::Open),
        Ok(pb::IssueStatus::Fixed) => Ok(IssueStatus::Fixed),
        Ok(pb::IssueStatus::Closed) => Ok(IssueStatus::Closed),
        Ok(pb::IssueStatus::KnownDefect) => Ok(IssueStatus::KnownDefect),
        _ => Err(problem(field, format!("{raw} is not an issue status"))),
    }
}

pub fn severity_from_proto(field: &str, raw: u32) -> Result<Severity, FieldProblem> {
    u8::try_from(raw)
        .ok()
        .and_then(|level| Severity::new(level).ok())
        .ok_or_else(|| problem(field, format!("{raw} is not a severity 1..=5")))
}

/// A DMC as the list of its device models (the comms hub first).
pub fn dmc_to_proto(id: &DmcId, components: &DmcComponents) -> pb::Dmc {
    let slots = [
        (pb::DeviceKind::CommsHub, Some(&components.comms_hub)),
        (pb::DeviceKind::Esme, components.esme.as_ref()),
        (pb::DeviceKind::Gsme, components.gsme.as_ref()),
        (pb::DeviceKind::Ppmid, components.ppmid.as_ref()),
        (pb::DeviceKind::Ihd, components.ihd.as_ref()),
    ];
    pb::Dmc {
        id: id.to_string(),
        models: slots
            .into_iter()
            .filter_map(|(kind, model)| {
                model.map(|model| pb::DeviceModelRef {
                    kind: kind.into(),
                    manufacturer: model.manufacturer.clone(),
                    model: model.model.clone(),
                    firmware_version: model.firmware.clone(),
                })
            })
            .collect(),
    }
}

/// The inverse of [`dmc_to_proto`]: every kind at most once, a comms hub required.
pub fn dmc_from_proto(dmc: &pb::Dmc) -> Result<(DmcId, DmcComponents), FieldProblem> {
    let mut slots: [Option<DeviceModel>; 5] = Default::default();
    for (index, model) in dmc.models.iter().enumerate() {
        let field = format!("models[{index}]");
        let slot = match pb::DeviceKind::try_from(model.kind) {
            Ok(pb::DeviceKind::CommsHub) => 0,
            Ok(pb::DeviceKind::Esme) => 1,
            Ok(pb::DeviceKind::Gsme) => 2,
            Ok(pb::DeviceKind::Ppmid) => 3,
            Ok(pb::DeviceKind::Ihd) => 4,
            _ => {
                return Err(problem(
                    &field,
                    format!("kind {} is not a device kind", model.kind),
                ));
            }
        };
        if slots[slot].is_some() {
            return Err(problem(&field, "repeats a device kind"));
        }
        slots[slot] = Some(DeviceModel {
            manufacturer: model.manufacturer.clone(),
            model: model.model.clone(),
            firmware: model.firmware_version.clone(),
        });
    }
    let [hub, esme, gsme, ppmid, ihd] = slots;
    let comms_hub = hub.ok_or_else(|| problem("models", "has no comms hub"))?;
    Ok((
        DmcId::new(dmc.id.clone()),
        DmcComponents {
            comms_hub,
            esme,
            gsme,
            ppmid,
            ihd,
        },
    ))
}

pub fn outcome_from_proto(field: &str, raw: i32) -> Result<Outcome, FieldProblem> {
    match pb::VerdictOutcome::try_from(raw) {
        Ok(pb::VerdictOutcome::Exit) => Ok(Outcome::Exit),
        Ok(pb::VerdictOutcome::NotMet) => Ok(Outcome::NotMet),
        Ok(pb::VerdictOutcome::Blocked) => Ok(Outcome::Blocked),
        Ok(pb::VerdictOutcome::Pending) => Ok(Outcome::Pending),
        _ => Err(problem(field, format!("{raw} is not a verdict outcome"))),
    }
}

fn criterion_outcome_from_proto(field: &str, raw: i32) -> Result<CriterionOutcome, FieldProblem> {
    match pb::CriterionOutcome::try_from(raw) {
        Ok(pb::CriterionOutcome::Met) => Ok(CriterionOutcome::Met),
        Ok(pb::CriterionOutcome::NotMet) => Ok(CriterionOutcome::NotMet),
        Ok(pb::CriterionOutcome::Blocked) => Ok(CriterionOutcome::Blocked),
        Ok(pb::CriterionOutcome::Pending) => Ok(CriterionOutcome::Pending),
        Ok(pb::CriterionOutcome::NotApplicable) => Ok(CriterionOutcome::Information),
        _ => Err(problem(field, format!("{raw} is not a criterion outcome"))),
    }
}

/// A measure; `as_limit` reads a count as a limit (`Limit::Max`), as the gateway writes limits.
fn quantity_from_proto(
    field: &str,
    measure: Option<&pb::Measure>,
    as_limit: bool,
) -> Result<Quantity, FieldProblem> {
    use pb::measure::Value;
    let value = measure
        .and_then(|m| m.value.as_ref())
        .ok_or_else(|| problem(field, "has no value"))?;
    Ok(match value {
        Value::Count(n) if as_limit => match u32::try_from(*n) {
            Ok(max) => Quantity::Limit(Limit::Max(max)),
            Err(_) => Quantity::Count(*n),
        },
        Value::Count(n) => Quantity::Count(*n),
        Value::Unlimited(_) => Quantity::Limit(Limit::Unlimited),
        Value::Text(text) => fraction(text).unwrap_or_else(|| Quantity::Text(text.clone())),
        Value::Flag(flag) => Quantity::Flag(*flag),
        Value::Missing(_) => Quantity::Missing,
    })
}

/// `num/den` as the gateway writes a fraction.
fn fraction(text: &str) -> Option<Quantity> {
    let (num, den) = text.split_once('/')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(num) || !all_digits(den) {
        return None;
    }
    Some(Quantity::Fraction {
        num: num.parse().ok()?,
        den: den.parse().ok()?,
    })
}

/// What a verdict is about, as the RPC that asked for it knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictKind {
    /// EvaluatePhase, and phases of a report.
    PhaseExit,
    /// StartPhase's entry criteria.
    PhaseStart,
    /// EvaluateEntry, EvaluateCycle.
    Aggregate,
}

/// A gateway verdict as the governance engine's verdict. `rule_id` `R<rule>.<id>` is split back
/// into rule and id; the log position is `at_seq`; a hypothetical verdict carries `assumptions`.
pub fn verdict_from_proto(
    verdict: &pb::Verdict,
    kind: VerdictKind,
    assumptions: &[String],
) -> Result<Verdict, FieldProblem> {
    use pb::verdict::Subject as S;
    let subject = match (&verdict.subject, kind) {
        (Some(S::Phase(phase)), VerdictKind::PhaseStart) => {
            Subject::PhaseStart(meterlab_governance::model::PhaseId::Test(
                phase_from_proto(phase).map_err(under("phase"))?,
            ))
        }
        (Some(S::Phase(phase)), _) => {
            Subject::PhaseExit(meterlab_governance::model::PhaseId::Test(
                phase_from_proto(phase).map_err(under("phase"))?,
            ))
        }
        (Some(S::Entry(entry)), _) => {
            Subject::Entry(entry_from_proto(entry).map_err(under("entry"))?)
        }
        (Some(S::CycleId(cycle)), _) => {
            Subject::Regression(RegressionScope::Cycle(CycleId::new(cycle.clone())))
        }
        (None, _) => return Err(problem("subject", "is missing")),
    };
    let profile = verdict
        .profile
        .as_ref()
        .ok_or_else(|| problem("profile", "is missing"))?;
    let criteria = verdict
        .criteria
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let field = format!("criteria[{index}]");
            let (rule, id) = c
                .rule_id
                .strip_prefix('R')
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(rule, id)| Some((rule.parse::<u8>().ok()?, id)))
                .ok_or_else(|| {
                    problem(
                        &format!("{field}.rule_id"),
                        format!("{:?} is not R<rule>.<id>", c.rule_id),
                    )
                })?;
            Ok(Criterion {
                rule,
                id: id.to_owned(),
                clause: c.clause.clone(),
                measured: quantity_from_proto(
                    &format!("{field}.measured"),
                    c.measured.as_ref(),
                    false,
                )?,
                limit: quantity_from_proto(&format!("{field}.limit"), c.limit.as_ref(), true)?,
                outcome: criterion_outcome_from_proto(&format!("{field}.outcome"), c.outcome)?,
                explanation: c.explanation.clone(),
            })
        })
        .collect::<Result<Vec<_>, FieldProblem>>()?;
    let mut assumptions = assumptions.to_vec();
    if verdict.hypothetical && assumptions.is_empty() {
        assumptions.push("hypothetical events (what-if)".to_owned());
    }
    Ok(Verdict {
        subject,
        outcome: outcome_from_proto("outcome", verdict.outcome)?,
        profile: ProfileRef {
            name: profile.name.clone(),
            version: profile.version.clone(),
        },
        illustrative_profile: profile.illustrative,
        at_seq: verdict.log_position,
        assumptions,
        criteria,
    })
}

#[cfg(test)]
mod tests;
