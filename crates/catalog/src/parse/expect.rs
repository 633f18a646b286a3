//! A step's expectations: the outcome per installation state and the field checks, checked
//! against the result message of the step's SRV.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::operand::{CaptureScope, operand};
use super::source::{Source, describe};
use crate::model::{Check, Expectation, Expectations, ExpectedOutcome, Op};
use crate::path::FieldPath;
use crate::schema::{FieldType, MessageSchema};

const EXPECT_KEYS: [&str; 7] = [
    "outcome", "code", "check", "alerts", "active", "dormant", "dmc",
];
const MODE_EXPECT_KEYS: [&str; 4] = ["outcome", "code", "check", "alerts"];
const CHECK_KEYS: [&str; 4] = ["field", "op", "value", "tolerance"];

pub(crate) fn parse_expectations(
    source: &mut Source<'_>,
    table: &DeTable<'_>,
    at: &Range<usize>,
    result: &'static MessageSchema,
    captures: &CaptureScope,
    what: &str,
) -> Option<Expectations> {
    let Some((expect, span)) = source.table(table, "expect", what) else {
        if table.contains_key("expect") {
            return None;
        }
        return Some(Expectations {
            default: Expectation {
                outcome: ExpectedOutcome::Success,
                checks: Vec::new(),
                alerts: Vec::new(),
            },
            active: None,
            dormant: None,
            dmc: BTreeMap::new(),
        });
    };
    let span = if span.is_empty() { at.clone() } else { span };
    source.allow_keys(expect, &EXPECT_KEYS, &format!("the expectation of {what}"));
    let default = parse_expectation(source, expect, &span, result, captures, what);
    let mut by_state = |state: &str| -> Result<Option<Expectation>, ()> {
        let label = format!("the {state} expectation of {what}");
        match source.table(expect, state, &label) {
            None if expect.contains_key(state) => Err(()),
            None => Ok(None),
            Some((inner, inner_span)) => {
                let inner_span = if inner_span.is_empty() {
                    span.clone()
                } else {
                    inner_span
                };
                source.allow_keys(inner, &MODE_EXPECT_KEYS, &label);
                parse_expectation(source, inner, &inner_span, result, captures, &label)
                    .map(Some)
                    .ok_or(())
            }
        }
    };
    let active = by_state("active");
    let dormant = by_state("dormant");
    let by_dmc = parse_by_dmc(source, expect, &span, result, captures, what);
    Some(Expectations {
        default: default?,
        active: active.ok()?,
        dormant: dormant.ok()?,
        dmc: by_dmc?,
    })
}

/// `[case.step.expect.dmc.<dmc id>]` tables: expectations for the devices of one DMC.
fn parse_by_dmc(
    source: &mut Source<'_>,
    expect: &DeTable<'_>,
    span: &Range<usize>,
    result: &'static MessageSchema,
    captures: &CaptureScope,
    what: &str,
) -> Option<BTreeMap<String, Expectation>> {
    let mut by_dmc = BTreeMap::new();
    let label = format!("the per-DMC expectations of {what}");
    let Some((table, _)) = source.table(expect, "dmc", &label) else {
        return (!expect.contains_key("dmc")).then_some(by_dmc);
    };
    let mut ok = true;
    for (id, node) in table.iter() {
        let id_text = id.get_ref().to_string();
        let label = format!("the expectation for DMC {id_text:?} of {what}");
        let DeValue::Table(inner) = node.get_ref() else {
            source.report(
                &node.span(),
                format!(
                    "{label} must be a table, found {}",
                    describe(node.get_ref())
                ),
            );
            ok = false;
            continue;
        };
        let inner_span = if node.span().is_empty() {
            span.clone()
        } else {
            node.span()
        };
        source.allow_keys(inner, &MODE_EXPECT_KEYS, &label);
        match parse_expectation(source, inner, &inner_span, result, captures, &label) {
            Some(expectation) => {
                by_dmc.insert(id_text, expectation);
            }
            None => ok = false,
        }
    }
    ok.then_some(by_dmc)
}

fn parse_expectation(
    source: &mut Source<'_>,
    table: &DeTable<'_>,
    at: &Range<usize>,
    result: &'static MessageSchema,
    captures: &CaptureScope,
    what: &str,
) -> Option<Expectation> {
    let outcome_word = source.string(table, "outcome", at, what, false);
    let code = source.integer(table, "code", at, what, false);
    let outcome = match outcome_word
        .as_ref()
        .map(|(word, span)| (word.as_str(), span))
    {
        None | Some(("success", _)) => Some(ExpectedOutcome::Success),
        Some(("device_rejected", _)) => match code.clone() {
            None => Some(ExpectedOutcome::DeviceRejected { code: None }),
            Some((code, span)) => match u32::try_from(code) {
                Ok(code) => Some(ExpectedOutcome::DeviceRejected { code: Some(code) }),
                Err(_) => {
                    source.report(&span, format!("device code {code} is not a u32"));
                    None
                }
            },
        },
        Some(("not_supported_on_dmc", _)) => Some(ExpectedOutcome::NotSupportedOnDmc),
        Some((other, span)) => {
            source.report(
                span,
                format!(
                    "unknown outcome {other:?}; expected success, device_rejected or not_supported_on_dmc"
                ),
            );
            None
        }
    };
    if let (Some((_, span)), Some(outcome)) = (&code, outcome)
        && !matches!(outcome, ExpectedOutcome::DeviceRejected { .. })
    {
        source.report(
            span,
            format!(
                "`code` applies to outcome device_rejected, not {}",
                outcome.name()
            ),
        );
    }
    let mut checks = Vec::new();
    let mut ok = true;
    if let Some(node) = table.get("check") {
        match node.get_ref() {
            DeValue::Array(items) => {
                if let Some(outcome) = outcome
                    && outcome != ExpectedOutcome::Success
                    && !items.is_empty()
                {
                    source.report(
                        &node.span(),
                        format!(
                            "{what}: field checks need outcome success, not {}",
                            outcome.name()
                        ),
                    );
                    ok = false;
                }
                for item in items.iter() {
                    match parse_check(source, item, result, captures, what) {
                        Some(check) => checks.push(check),
                        None => ok = false,
                    }
                }
            }
            other => {
                source.report(
                    &node.span(),
                    format!(
                        "`check` of {what} must be an array of check tables, found {}",
                        other.type_str()
                    ),
                );
                ok = false;
            }
        }
    }
    let mut alerts = Vec::new();
    if table.contains_key("alerts") {
        match source.strings(table, "alerts", at, what) {
            Some(codes) => {
                alerts = codes.into_iter().map(|(code, _)| code).collect();
                alerts.sort();
                alerts.dedup();
            }
            None => ok = false,
        }
    }
    let outcome = outcome?;
    ok.then_some(Expectation {
        outcome,
        checks,
        alerts,
    })
}

fn parse_check(
    source: &mut Source<'_>,
    node: &super::source::Node<'_>,
    result: &'static MessageSchema,
    captures: &CaptureScope,
    what: &str,
) -> Option<Check> {
    let span = node.span();
    let DeValue::Table(table) = node.get_ref() else {
        source.report(
            &span,
            format!(
                "a check of {what} is a table {{ field, op, value }}, found {}",
                describe(node.get_ref())
            ),
        );
        return None;
    };
    let label = format!("a check of {what}");
    source.allow_keys(table, &CHECK_KEYS, &label);
    let field = source.string(table, "field", &span, &label, true);
    let op = source
        .string(table, "op", &span, &label, true)
        .and_then(|(symbol, op_span)| {
            let op = Op::ALL
                .iter()
                .find(|(text, _)| *text == symbol)
                .map(|(_, op)| *op);
            if op.is_none() {
                let symbols: Vec<&str> = Op::ALL.iter().map(|(text, _)| *text).collect();
                source.report(
                    &op_span,
                    format!(
                        "unknown operator {symbol:?}; expected one of {}",
                        symbols.join(" ")
                    ),
                );
            }
            op
        });
    let tolerance = source.integer(table, "tolerance", &span, &label, false);
    let (field, field_span) = field?;
    let path = match FieldPath::parse(&field).and_then(|path| {
        let path_type = path.check(result)?;
        Ok((path, path_type))
    }) {
        Ok(checked) => checked,
        Err(message) => {
            source.report(&field_span, format!("{label}: {message}"));
            return None;
        }
    };
    let (path, path_type) = path;
    let op = op?;
    let compared = match op {
        Op::Contains | Op::NotContains => match (path_type.many, path_type.leaf) {
            (true, leaf) => leaf,
            (false, FieldType::List(element)) => *element,
            (false, other) => {
                source.report(
                    &field_span,
                    format!(
                        "{label}: `{}` needs a repeated field or a `[*]` path, and {path} is {}",
                        op.symbol(),
                        other.describe()
                    ),
                );
                return None;
            }
        },
        _ => path_type.leaf,
    };
    if op.is_ordering() && compared != FieldType::Int {
        source.report(
            &field_span,
            format!(
                "{label}: `{}` compares integers, and {path} is {}",
                op.symbol(),
                compared.describe()
            ),
        );
        return None;
    }
    let tolerance = match (op, tolerance) {
        (Op::Within, Some((tolerance, _))) if tolerance >= 0 => Some(tolerance),
        (Op::Within, Some((tolerance, tolerance_span))) => {
            source.report(
                &tolerance_span,
                format!("{label}: tolerance {tolerance} must not be negative"),
            );
            return None;
        }
        (Op::Within, None) => {
            source.report(&span, format!("{label}: `within` needs a `tolerance`"));
            return None;
        }
        (_, Some((_, tolerance_span))) => {
            source.report(
                &tolerance_span,
                format!("{label}: `tolerance` applies to `within` only"),
            );
            return None;
        }
        (_, None) => None,
    };
    let Some(value_node) = table.get("value") else {
        source.report(&span, format!("{label} has no `value`"));
        return None;
    };
    let value = operand(
        source,
        value_node,
        compared,
        captures,
        &format!("the value compared with {path}"),
    )?;
    Some(Check {
        field: path,
        op,
        value,
        tolerance,
        many: path_type.many,
    })
}
