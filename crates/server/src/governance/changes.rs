//! RecordRegressionRun (rule 6) and RecordDmcChange (rule 8): requests that become several
//! governance events, decided against the live projection and appended in one transaction.

use meterlab_governance::model::{
    ChangeClass, DmcChange, DmcId, EntryKey, PhaseId, PhaseKind, RegressionKind, TestType,
};
use meterlab_governance::{
    Event, Profile, Projection, Verdict, evaluate_phase_exit, evaluate_reintroduction,
    evaluate_start,
};
use meterlab_proto::v1 as pb;
use tonic::Status;

use super::GovernanceServiceImpl;
use crate::convert::keys::{
    entry_to_proto, mode_to_proto, regression_from_proto, regression_kind_from_proto,
    regression_scope_from_proto, required, required_text, test_type_to_proto,
};
use crate::convert::requests as req;
use crate::convert::result::case_result_in;
use crate::error::{FieldError, domain_status};

/// The unmet criteria of a verdict, one clause each, for a refusal message.
fn unmet(verdict: &Verdict) -> String {
    let failing: Vec<String> = verdict
        .failing()
        .map(|c| format!("{} ({})", c.explanation, c.id))
        .collect();
    failing.join(" ")
}

/// Applies `events` to a copy of `p`, or answers with the status the domain refusal maps to.
fn trial(p: &Projection, events: &[Event]) -> Result<Projection, Status> {
    let mut trial = p.clone();
    for event in events {
        trial.apply(event).map_err(|e| domain_status(&e))?;
    }
    Ok(trial)
}

/// The regression run a `RegressionRun` message names.
fn run_phase(run: &pb::RegressionRun) -> Result<PhaseId, FieldError> {
    use pb::regression_run::Scope;
    let scope = match &run.scope {
        Some(Scope::Entry(e)) => regression_scope_from_proto(Some(e), None),
        Some(Scope::CycleId(c)) => regression_scope_from_proto(None, Some(c)),
        None => regression_scope_from_proto(None, None),
    }?;
    let kind = regression_kind_from_proto("kind", run.kind)?;
    if kind == RegressionKind::Combined && !run.on_migrated_devices {
        return Err(FieldError::new(
            "on_migrated_devices",
            "must be true for COMBINED: the combined regression runs on migrated devices",
        ));
    }
    Ok(PhaseId::regression(scope, kind))
}

/// The events a RecordRegressionRun stands for, decided against `p` (also used by what-if).
pub(super) fn regression_events(
    run: &pb::RegressionRun,
    p: &Projection,
    profile: &Profile,
) -> Result<Vec<Event>, Status> {
    let phase = run_phase(run).map_err(|e| e.under("run"))?;
    let mut events = Vec::new();
    let registered = p.phase(&phase);
    if registered.is_none() {
        events.push(Event::PhaseRegistered {
            phase: phase.clone(),
        });
    }
    if !run.case_ids.is_empty() {
        let doc_key = p
            .doc_key_for(&phase)
            .ok_or_else(|| Status::not_found(format!("{phase}: its cycle is not defined")))?;
        let doc = p.doc(&doc_key).ok_or_else(|| {
            FieldError::new(
                "run.case_ids",
                format!("{doc_key} has not been drafted, so no case can be checked against it"),
            )
        })?;
        for (i, case) in run.case_ids.iter().enumerate() {
            if !doc.cases.keys().any(|c| c.as_str() == case) {
                return Err(FieldError::new(
                    format!("run.case_ids[{i}]"),
                    format!("case {case:?} is not on {doc_key}"),
                )
                .into());
            }
        }
    }
    let started = registered.is_some_and(|s| s.started().is_some());
    let started_at = run
        .started_at
        .as_ref()
        .map(|ts| req::instant("run.started_at", ts))
        .transpose()?;
    let finished_at = run
        .finished_at
        .as_ref()
        .map(|ts| req::instant("run.finished_at", ts))
        .transpose()?;
    // The start that counts is the recorded one when the run is already started.
    let start_time = if started {
        registered.and_then(|s| s.started_at())
    } else {
        started_at
    };
    if let (Some(start), Some(finish)) = (start_time, finished_at)
        && finish < start
    {
        return Err(FieldError::new(
            "run.finished_at",
            format!("{finish} is before the run's start {start}"),
        )
        .into());
    }
    if started_at.is_some() && !started {
        let before_start = trial(p, &events)?;
        let verdict = evaluate_start(&before_start, profile, &phase);
        if !verdict.is_exit() {
            return Err(Status::failed_precondition(format!(
                "{phase} may not start: {}",
                unmet(&verdict)
            )));
        }
        events.push(Event::PhaseStarted {
            phase: phase.clone(),
            at: started_at,
        });
    }
    for (i, result) in run.results.iter().enumerate() {
        let field = format!("run.results[{i}]");
        if result.phase.is_some() {
            return Err(FieldError::new(
                format!("{field}.phase"),
                "must be unset: a regression result names its run in `regression`",
            )
            .into());
        }
        if result.regression.is_some() {
            let named = regression_from_proto("regression", &result.regression)
                .map_err(|e| e.under(&field))?;
            if named != phase {
                return Err(FieldError::new(
                    format!("{field}.regression"),
                    format!("names {named}, not this run ({phase})"),
                )
                .into());
            }
        }
        let case = case_result_in(phase.clone(), result).map_err(|e| e.under(&field))?;
        events.push(Event::ResultRecorded(case));
    }
    if finished_at.is_some() {
        let finished = trial(p, &events)?;
        let verdict = evaluate_phase_exit(&finished, profile, &phase);
        if !verdict.is_exit() {
            return Err(Status::failed_precondition(format!(
                "{phase} does not meet its exit criteria, so its finish is not recorded: {}",
                unmet(&verdict)
            )));
        }
        events.push(Event::PhaseExited {
            phase,
            profile: profile.reference(),
            at: finished_at,
        });
    }
    if events.is_empty() {
        return Err(Status::already_exists(
            "the regression run is already registered and the request starts, records and \
             finishes nothing",
        ));
    }
    Ok(events)
}

/// PhaseKeys of `kinds` for each of `entries`.
fn phase_keys(entries: &[EntryKey], tests: &[TestType]) -> Vec<pb::PhaseKey> {
    let mut keys = Vec::new();
    for entry in entries {
        for kind in PhaseKind::all().filter(|k| tests.contains(&k.test)) {
            keys.push(pb::PhaseKey {
                entry: Some(entry_to_proto(entry)),
                test_type: test_type_to_proto(kind.test).into(),
                mode: mode_to_proto(kind.mode).into(),
            });
        }
    }
    keys
}

/// What a DMC change appends and answers.
struct DmcDecision {
    events: Vec<Event>,
    route: pb::ConsultationRoute,
    required_phases: Vec<pb::PhaseKey>,
}

fn dmc_decision(
    r: &pb::RecordDmcChangeRequest,
    p: &Projection,
    profile: &Profile,
) -> Result<DmcDecision, Status> {
    use pb::DmcChangeKind as K;
    let dmc = DmcId::new(required_text("dmc_id", &r.dmc_id)?);
    let kind = K::try_from(r.kind).map_err(|_| {
        FieldError::new(
            "kind",
            format!("{} is not a valid DmcChangeKind value", r.kind),
        )
    })?;
    let state = p
        .dmc(&dmc)
        .ok_or_else(|| Status::not_found(format!("DMC {dmc} is not registered")))?;
    let entries: Vec<EntryKey> = p
        .entries()
        .map(|(k, _)| k)
        .filter(|k| k.dmc == dmc)
        .cloned()
        .collect();
    let class = if r.major {
        ChangeClass::Major
    } else {
        ChangeClass::Minor
    };
    match kind {
        K::Unspecified => {
            Err(FieldError::new("kind", "must be set (got DmcChangeKind UNSPECIFIED)").into())
        }
        K::Deselected => {
            let reason = required_text("reason", &r.reason)?;
            Ok(DmcDecision {
                events: vec![Event::DmcDeselected { dmc, reason }],
                route: pb::ConsultationRoute::None,
                required_phases: Vec::new(),
            })
        }
        K::Reintroduced | K::FirmwareOnly => {
            let components = match &r.changed {
                Some(changed) => {
                    if !changed.id.is_empty() && changed.id != r.dmc_id {
                        return Err(FieldError::new(
                            "changed.id",
                            format!(
                                "{:?} differs from dmc_id {:?}: a new id is a MODEL_CHANGE",
                                changed.id, r.dmc_id
                            ),
                        )
                        .into());
                    }
                    req::dmc_components("changed", changed)?
                }
                None if kind == K::FirmwareOnly => {
                    return Err(FieldError::new(
                        "changed",
                        "is required for FIRMWARE_ONLY: the DMC with its new firmware versions",
                    )
                    .into());
                }
                None => state.components.clone(),
            };
            let tag = required_text("tag_consultation", &r.tag_consultation)?;
            let (change, what) = state.components.change_to(&components);
            if kind == K::FirmwareOnly && change != DmcChange::FirmwareOnly {
                return Err(FieldError::new(
                    "changed",
                    "FIRMWARE_ONLY needs at least one firmware version change and no model change",
                )
                .into());
            }
            let verdict = evaluate_reintroduction(p, profile, &dmc, &components, Some(&tag));
            if !verdict.is_exit() {
                return Err(Status::failed_precondition(format!(
                    "DMC {dmc} cannot be reintroduced: {}",
                    unmet(&verdict)
                )));
            }
            let mut events = vec![Event::DmcReintroduced {
                dmc,
                components,
                tag_consultation: tag,
            }];
            if change != DmcChange::None || r.major {
                let description = if r.reason.trim().is_empty() {
                    if what.is_empty() {
                        "reintroduced unchanged".to_owned()
                    } else {
                        what.join(", ")
                    }
                } else {
                    r.reason.trim().to_owned()
                };
                for entry in &entries {
                    events.push(Event::ChangeRecorded {
                        entry: entry.clone(),
                        class,
                        description: description.clone(),
                    });
                }
            }
            // Rule 6: after a change MT runs again; SIT and regression only for a major change.
            let tests: &[TestType] = match (change, class) {
                (_, ChangeClass::Major) => &[TestType::Mt, TestType::Sit],
                (DmcChange::None, ChangeClass::Minor) => &[],
                _ => &[TestType::Mt],
            };
            Ok(DmcDecision {
                events,
                route: pb::ConsultationRoute::Tag,
                required_phases: phase_keys(&entries, tests),
            })
        }
        K::ModelChange => {
            let changed = required("changed", &r.changed)?;
            let new_id = required_text("changed.id", &changed.id)?;
            if new_id == r.dmc_id {
                return Err(FieldError::new(
                    "changed.id",
                    "a model change makes a new DMC, which needs a new id (SVTAD 13.11)",
                )
                .into());
            }
            let components = req::dmc_components("changed", changed)?;
            let (change, _) = state.components.change_to(&components);
            if change != DmcChange::Model {
                return Err(FieldError::new(
                    "changed.models",
                    format!(
                        "no device model differs from DMC {dmc}; use REINTRODUCED or FIRMWARE_ONLY"
                    ),
                )
                .into());
            }
            let new_dmc = DmcId::new(new_id);
            let new_entries: Vec<EntryKey> = entries
                .iter()
                .map(|e| EntryKey {
                    release: e.release,
                    smso: e.smso.clone(),
                    dmc: new_dmc.clone(),
                })
                .collect();
            Ok(DmcDecision {
                events: vec![Event::DmcRegistered {
                    dmc: new_dmc,
                    components,
                    supersedes: Some(dmc),
                }],
                route: pb::ConsultationRoute::Full,
                required_phases: phase_keys(&new_entries, &[TestType::Mt, TestType::Sit]),
            })
        }
    }
}

impl GovernanceServiceImpl {
    pub(super) async fn record_regression_run_impl(
        &self,
        r: pb::RecordRegressionRunRequest,
        actor: &str,
    ) -> Result<pb::RecordedEvent, Status> {
        let run = required("run", &r.run)?;
        let events = self
            .ledger
            .read(|p, _| regression_events(run, p, self.ledger.profile()))?;
        super::write::last(&self.ledger.append(events, actor).await?)
    }

    pub(super) async fn record_dmc_change_impl(
        &self,
        r: pb::RecordDmcChangeRequest,
        actor: &str,
    ) -> Result<pb::RecordDmcChangeResponse, Status> {
        let decision = self
            .ledger
            .read(|p, _| dmc_decision(&r, p, self.ledger.profile()))?;
        let acks = self.ledger.append(decision.events, actor).await?;
        Ok(pb::RecordDmcChangeResponse {
            recorded: Some(super::write::last(&acks)?),
            route: decision.route.into(),
            required_phases: decision.required_phases,
        })
    }
}
