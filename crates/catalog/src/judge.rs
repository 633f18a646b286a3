//! Judging a step's response against its expectation: a verdict with one record per check (the
//! expectation as written, the expected and the actual value), or `Blocked` when the response
//! says the infrastructure failed rather than the device.

use meterlab_plugin::pb::{self, service_error::Kind, service_response::Outcome};
use serde::Serialize;

use crate::context::StepContext;
use crate::model::{Check, ExpectedOutcome, Op, Operand, Step};
use crate::path::Resolved;
use crate::value::{Value, outcome_answers, outcome_value};

/// What a step's response amounts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    /// The device answered; the checks say whether as expected.
    Judged(Judgement),
    /// The infrastructure failed (link, adapter, timeout): not a device result.
    Blocked(Blocked),
}

impl StepVerdict {
    /// Whether the step passed (a blocked step did not).
    pub fn passed(&self) -> bool {
        matches!(self, Self::Judged(judgement) if judgement.passed)
    }
}

/// The checks of a judged step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judgement {
    /// Every check held (the outcome check included).
    pub passed: bool,
    /// The outcome check first, then each field check in case order.
    pub checks: Vec<CheckRecord>,
    /// Values this step captured (also stored in the context).
    pub captures: Vec<(String, Value)>,
}

/// One expectation and how the response measured up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRecord {
    /// The expectation as the case states it, e.g. `state == disabled` or `outcome`.
    pub expectation: String,
    /// The expected value, resolved (e.g. the device record's firmware).
    pub expected: String,
    /// What the response held.
    pub actual: String,
    pub ok: bool,
    /// Context for a reviewer, e.g. a DMC's declared variation that explains a difference.
    pub note: Option<String>,
}

/// Why a step produced no device result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub kind: BlockedKind,
    pub detail: String,
}

/// Classes of infrastructure failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockedKind {
    /// No (complete) answer in time.
    Timeout,
    /// The link dropped or could not carry the exchange.
    LinkFailure,
    /// The adapter misbehaved.
    AdapterFault,
    /// The response has no outcome, an empty error, or the result of another SRV.
    MalformedResponse,
}

impl Step {
    /// Judges `response` by the expectation for the context's installation state, and stores
    /// this step's captures in `context`.
    pub fn judge(&self, response: &pb::ServiceResponse, context: &mut StepContext) -> StepVerdict {
        let blocked = |kind, detail: String| StepVerdict::Blocked(Blocked { kind, detail });
        let Some(outcome) = &response.outcome else {
            return blocked(
                BlockedKind::MalformedResponse,
                format!("{}: the response has no outcome", self.request_id),
            );
        };
        let actual_outcome = match outcome {
            Outcome::Error(error) => match &error.kind {
                None => {
                    return blocked(
                        BlockedKind::MalformedResponse,
                        format!("{}: the error response names no error", self.request_id),
                    );
                }
                Some(Kind::Timeout(timeout)) => {
                    return blocked(
                        BlockedKind::Timeout,
                        format!(
                            "no answer after {} ms waiting for {}",
                            timeout.elapsed_ms, timeout.waiting_for
                        ),
                    );
                }
                Some(Kind::LinkFailure(failure)) => {
                    return blocked(BlockedKind::LinkFailure, failure.detail.clone());
                }
                Some(Kind::AdapterFault(fault)) => {
                    return blocked(BlockedKind::AdapterFault, fault.detail.clone());
                }
                Some(Kind::DeviceRejected(rejected)) => ActualOutcome::Rejected(rejected),
                Some(Kind::NotSupportedOnDmc(unsupported)) => {
                    ActualOutcome::NotSupported(unsupported)
                }
            },
            result => {
                if !outcome_answers(result, self.srv) {
                    return blocked(
                        BlockedKind::MalformedResponse,
                        format!(
                            "{}: SRV {} was answered with a result of another SRV",
                            self.request_id,
                            self.srv.number()
                        ),
                    );
                }
                ActualOutcome::Success
            }
        };

        let expectation = self
            .expect
            .for_device(&context.device().dmc, context.installation_state());
        let mut checks = Vec::with_capacity(expectation.checks.len() + 1);
        let outcome_ok = match (expectation.outcome, &actual_outcome) {
            (ExpectedOutcome::Success, ActualOutcome::Success) => true,
            (ExpectedOutcome::DeviceRejected { code }, ActualOutcome::Rejected(rejected)) => {
                code.is_none_or(|code| code == rejected.device_code)
            }
            (ExpectedOutcome::NotSupportedOnDmc, ActualOutcome::NotSupported(_)) => true,
            _ => false,
        };
        checks.push(CheckRecord {
            expectation: format!("outcome ({} device)", context.installation_state().as_str()),
            expected: expectation.outcome.to_string(),
            actual: actual_outcome.describe(),
            ok: outcome_ok,
            note: None,
        });

        let mut captured = Vec::new();
        if let Some(result) = outcome_value(outcome) {
            for capture in &self.captures {
                if let Ok(Resolved::One(value)) = capture.path.resolve(&result) {
                    context.capture(capture.name.clone(), value.clone());
                    captured.push((capture.name.clone(), value));
                }
            }
            if outcome_ok {
                for check in &expectation.checks {
                    checks.push(evaluate(check, &result, context));
                }
            }
        }
        if outcome_ok {
            for code in &expectation.alerts {
                let seen = context.alerts().iter().any(|alert| alert == code);
                checks.push(CheckRecord {
                    expectation: format!("alert {code} raised"),
                    expected: code.clone(),
                    actual: if context.alerts().is_empty() {
                        "no alert".to_owned()
                    } else {
                        context.alerts().join(", ")
                    },
                    ok: seen,
                    note: None,
                });
            }
        }
        let passed = checks.iter().all(|check| check.ok);
        StepVerdict::Judged(Judgement {
            passed,
            checks,
            captures: captured,
        })
    }
}

enum ActualOutcome<'a> {
    Success,
    Rejected(&'a pb::DeviceRejected),
    NotSupported(&'a pb::NotSupportedOnDmc),
}

impl ActualOutcome<'_> {
    fn describe(&self) -> String {
        match self {
            Self::Success => "success".to_owned(),
            Self::Rejected(rejected) if rejected.reason.is_empty() => {
                format!("device_rejected (code {})", rejected.device_code)
            }
            Self::Rejected(rejected) => format!(
                "device_rejected (code {}: {})",
                rejected.device_code, rejected.reason
            ),
            Self::NotSupported(unsupported) => {
                format!("not_supported_on_dmc (DMC {:?})", unsupported.dmc_id)
            }
        }
    }
}

fn describe_operand(operand: &Operand) -> String {
    match operand {
        Operand::Literal(value) => value.to_string(),
        Operand::Now { offset_ms: 0 } => "now".to_owned(),
        Operand::Now { offset_ms } if *offset_ms > 0 => format!("now + {offset_ms} ms"),
        Operand::Now { offset_ms } => format!("now - {} ms", offset_ms.unsigned_abs()),
        Operand::Capture(name) => format!("capture {name}"),
        Operand::Device(field) => format!("device.{}", field.name()),
    }
}

fn evaluate(check: &Check, result: &Value, context: &StepContext) -> CheckRecord {
    let mut expectation = format!(
        "{} {} {}",
        check.field,
        check.op.symbol(),
        describe_operand(&check.value)
    );
    if let Some(tolerance) = check.tolerance {
        expectation.push_str(&format!(" ± {tolerance}"));
    }
    let record = |expected: String, actual: String, ok: bool| CheckRecord {
        expectation: expectation.clone(),
        expected,
        actual,
        ok,
        note: None,
    };
    let expected = match context.resolve(&check.value) {
        Ok(value) => value,
        Err(why) => return record(why.to_string(), String::new(), false),
    };
    let expected_text = match check.tolerance {
        Some(tolerance) => format!("{expected} ± {tolerance}"),
        None => expected.to_string(),
    };
    let actual = match check.field.resolve(result) {
        Ok(actual) => actual,
        Err(why) => return record(expected_text, why.to_string(), false),
    };
    let (ok, actual_text) = match (&actual, check.op) {
        (Resolved::One(Value::List(items)), Op::Contains | Op::NotContains)
        | (Resolved::Many(items), Op::Contains | Op::NotContains) => {
            let found = items.contains(&expected);
            (
                found == (check.op == Op::Contains),
                Value::List(items.clone()).to_string(),
            )
        }
        (Resolved::One(value), op) => (
            holds(value, op, &expected, check.tolerance),
            value.to_string(),
        ),
        (Resolved::Many(items), op) => {
            let failing: Vec<&Value> = items
                .iter()
                .filter(|item| !holds(item, op, &expected, check.tolerance))
                .collect();
            let text = if failing.is_empty() {
                format!("all {} hold", items.len())
            } else {
                let shown: Vec<String> = failing.iter().take(5).map(|v| v.to_string()).collect();
                format!(
                    "{} of {} do not: {}{}",
                    failing.len(),
                    items.len(),
                    shown.join(", "),
                    if failing.len() > 5 { ", …" } else { "" }
                )
            };
            (failing.is_empty(), text)
        }
    };
    record(expected_text, actual_text, ok)
}

fn holds(actual: &Value, op: Op, expected: &Value, tolerance: Option<i64>) -> bool {
    match op {
        Op::Eq => actual == expected,
        Op::Ne => actual != expected,
        Op::Contains => matches!(actual, Value::List(items) if items.contains(expected)),
        Op::NotContains => !matches!(actual, Value::List(items) if items.contains(expected)),
        Op::Lt | Op::Le | Op::Gt | Op::Ge | Op::Within => {
            let (Value::Int(actual), Value::Int(expected)) = (actual, expected) else {
                return false;
            };
            match op {
                Op::Lt => actual < expected,
                Op::Le => actual <= expected,
                Op::Gt => actual > expected,
                Op::Ge => actual >= expected,
                _ => (actual - expected).abs() <= i128::from(tolerance.unwrap_or(0)),
            }
        }
    }
}
