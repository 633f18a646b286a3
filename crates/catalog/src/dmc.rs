//! What the DMC descriptions (`suites/dmcs`, parsed by `meterlab-dmc`) say about cases: steps
//! whose SRV no DMC offers on the case's device types (a warning for `catalog check`), and the
//! declared variations that may explain a failing check (notes next to it, not defects).

use meterlab_devices::DeviceRole;
use meterlab_dmc::DmcDescription;

use crate::error::Problem;
use crate::judge::Judgement;
use crate::model::{Case, ExpectedOutcome, Step};

/// "step 2" or "restore step 1", as the case file numbers them.
fn step_name(step: &Step) -> String {
    if step.request_id.contains("/restore-") {
        format!("restore step {}", step.index + 1)
    } else {
        format!("step {}", step.index + 1)
    }
}

/// Whether every expectation of `step` is that the DMC does not offer the SRV.
fn expects_unsupported(step: &Step) -> bool {
    step.expect
        .all()
        .all(|expectation| expectation.outcome == ExpectedOutcome::NotSupportedOnDmc)
}

/// Warnings for per-DMC expectations naming a DMC none of `dmcs` is (a typo would silently
/// never apply).
pub fn unknown_dmc_expectations(cases: &[Case], dmcs: &[DmcDescription]) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for case in cases {
        for step in case.steps.iter().chain(&case.restore) {
            for id in step.expect.dmc.keys() {
                if !dmcs.iter().any(|dmc| &dmc.id == id) {
                    let ids: Vec<&str> = dmcs.iter().map(|dmc| dmc.id.as_str()).collect();
                    warnings.push(Problem {
                        location: step.location.clone(),
                        message: format!(
                            "case {} {}: the expectation for DMC {id:?} names no known DMC ({})",
                            case.id,
                            step_name(step),
                            ids.join(", ")
                        ),
                    });
                }
            }
        }
    }
    warnings
}

/// Warnings for steps that no DMC of `dmcs` can run: an SRV listed for none of the case's
/// device types, unless the step expects exactly that (`not_supported_on_dmc`). A step whose
/// SRV is unsupported on some DMCs only is fine: the adapter answers `not_supported_on_dmc`
/// there and the case fails for that DMC, which the test manager must see.
pub fn unsupported_steps(cases: &[Case], dmcs: &[DmcDescription]) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for case in cases {
        for step in case.steps.iter().chain(&case.restore) {
            if expects_unsupported(step) {
                continue;
            }
            for role in &case.device_types {
                if !dmcs.iter().any(|dmc| dmc.supports(step.srv, *role)) {
                    let ids: Vec<&str> = dmcs.iter().map(|dmc| dmc.id.as_str()).collect();
                    warnings.push(Problem {
                        location: step.location.clone(),
                        message: format!(
                            "case {} {}: SRV {} {} is offered on {role} by none of the DMCs ({})",
                            case.id,
                            step_name(step),
                            step.srv.number(),
                            step.srv.title(),
                            ids.join(", ")
                        ),
                    });
                }
            }
        }
    }
    warnings
}

/// The declared variations of `dmc` that concern `step` on a device of type `role`: those
/// declared against its SRV, or against an object of that device when no SRV is named.
pub fn variations(step: &Step, role: DeviceRole, dmc: &DmcDescription) -> Vec<String> {
    dmc.variations
        .iter()
        .filter(|variation| variation.device == role)
        .filter(|variation| variation.srv.is_none_or(|srv| srv == step.srv))
        .map(|variation| format!("declared variation of {}: {}", dmc.id, variation.summary()))
        .collect()
}

/// Puts the declared variations that concern `step` next to each failing check of `judgement`,
/// so a reviewer sees at once whether a difference is a declared one.
pub fn annotate(judgement: &mut Judgement, step: &Step, role: DeviceRole, dmc: &DmcDescription) {
    let notes = variations(step, role, dmc);
    if notes.is_empty() {
        return;
    }
    let note = notes.join("; ");
    for check in judgement.checks.iter_mut().filter(|check| !check.ok) {
        check.note = Some(note.clone());
    }
}
