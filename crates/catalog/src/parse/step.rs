//! One `[[case.step]]`: its SRV, parameters, captures and expectations, checked against the
//! SRV's request and result schema.

use std::ops::Range;

use toml::de::{DeTable, DeValue};

use super::operand::{CaptureScope, operand};
use super::source::{Source, describe};
use crate::model::{Capture, ImageSpec, KeySpec, Operand, Param, ParamValue, Step, Via, Wait};
use crate::path::FieldPath;
use crate::schema::{
    self, FieldType, KEY_KIND, MessageSchema, ParamDefault, ParamKind, ParamSchema, SrvSchema,
};
use crate::value::Value;

const STEP_KEYS: [&str; 6] = ["srv", "title", "params", "capture", "expect", "via"];
const IMAGE_KEYS: [&str; 4] = ["model", "version", "payload_bytes", "corrupt"];
const KEY_UPDATE_KEYS: [&str; 2] = ["kind", "key"];

/// Largest filler payload of a built firmware image (the emulator takes 4 MiB images).
const MAX_PAYLOAD_BYTES: i64 = 1024 * 1024;

/// Which list of a case a step belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepList {
    /// `[[case.step]]`: the test.
    Steps,
    /// `[[case.restore]]`: run after every attempt, whatever its outcome.
    Restore,
}

impl StepList {
    fn label(self) -> &'static str {
        match self {
            Self::Steps => "step",
            Self::Restore => "restore step",
        }
    }

    fn request_id(self, case_id: &str, index: usize) -> String {
        match self {
            Self::Steps => format!("{case_id}/{}", index + 1),
            Self::Restore => format!("{case_id}/restore-{}", index + 1),
        }
    }
}

pub(crate) fn parse_step(
    source: &mut Source<'_>,
    table: &DeTable<'_>,
    at: Range<usize>,
    (case_id, list, index): (&str, StepList, usize),
    captures: &mut CaptureScope,
) -> Option<Step> {
    let problems_before = source.problems.len();
    let what = format!("{} {} of case {case_id}", list.label(), index + 1);
    source.allow_keys(table, &STEP_KEYS, &what);
    let srv = source
        .string(table, "srv", &at, &what, true)
        .and_then(|(number, span)| {
            let schema = schema::by_number(&number);
            if schema.is_none() {
                source.report(
                    &span,
                    format!(
                        "unknown SRV {number:?}; the vocabulary has {}",
                        schema::numbers()
                    ),
                );
            }
            schema
        });
    if srv.is_none()
        && let Some(node) = table.get("srv")
        && !matches!(node.get_ref(), DeValue::String(_))
    {
        // Already reported as a wrong type; say how to write it.
        source.report(
            &node.span(),
            "write the SRV number as a string, e.g. srv = \"7.2\"",
        );
    }
    let title = source
        .string(table, "title", &at, &what, false)
        .map(|(title, _)| title);
    let srv = srv?;
    let what = format!("{what} (SRV {} {})", srv.srv.number(), srv.srv.title());
    let via = parse_via(source, table, &at, srv, &what);

    let params = parse_params(source, table, srv, captures, &what);
    let (expect, step_captures) = {
        let expect =
            super::expect::parse_expectations(source, table, &at, srv.result, captures, &what);
        let step_captures = parse_captures(source, table, srv.result, &what);
        (expect, step_captures)
    };
    // Captures become visible to later steps only.
    for (capture, capture_type) in &step_captures {
        captures.insert(capture.name.clone(), *capture_type);
    }
    if source.problems.len() > problems_before {
        return None;
    }
    Some(Step {
        index,
        srv: srv.srv,
        title,
        params: params?,
        captures: step_captures
            .into_iter()
            .map(|(capture, _)| capture)
            .collect(),
        expect: expect?,
        via: via?,
        request_id: list.request_id(case_id, index),
        location: source.location(&at),
    })
}

const WAIT_KEYS: [&str; 2] = ["wait_ms", "title"];

/// A wait step: `[[case.step]]` with `wait_ms` (and an optional `title`), nothing else.
/// `after_steps` is the number of SRV steps before it.
pub(crate) fn parse_wait(
    source: &mut Source<'_>,
    table: &DeTable<'_>,
    at: Range<usize>,
    (case_id, index): (&str, usize),
    after_steps: usize,
) -> Option<Wait> {
    let problems_before = source.problems.len();
    let what = format!("step {} of case {case_id} (a wait)", index + 1);
    for (key, _) in table.iter() {
        let key = key.get_ref().as_ref();
        if !WAIT_KEYS.contains(&key) && STEP_KEYS.contains(&key) {
            source.report(
                &table
                    .get(key)
                    .map_or_else(|| at.clone(), |node| node.span()),
                format!(
                    "`{key}` in {what}: a step either waits (`wait_ms`) or sends an SRV (`srv`), \
                     not both; write the wait as its own [[case.step]]"
                ),
            );
        }
    }
    source.allow_keys(
        table,
        &[WAIT_KEYS.as_slice(), STEP_KEYS.as_slice()].concat(),
        &what,
    );
    let wait_ms = source
        .integer(table, "wait_ms", &at, &what, true)
        .and_then(|(ms, span)| match u64::try_from(ms) {
            Ok(ms) if (1..=Wait::MAX_MS).contains(&ms) => Some(ms),
            _ => {
                source.report(
                    &span,
                    format!(
                        "`wait_ms` of {what} is {ms}; a wait is 1 to {} ms (ten minutes)",
                        Wait::MAX_MS
                    ),
                );
                None
            }
        });
    let title = source
        .string(table, "title", &at, &what, false)
        .map(|(title, _)| title);
    if source.problems.len() > problems_before {
        return None;
    }
    Some(Wait {
        after_steps,
        wait_ms: wait_ms?,
        title,
        index,
        location: source.location(&at),
    })
}

/// `via = "run" | "optical"` (default `run`); through the optical port only the SRVs an
/// IEC 62056-21 port can carry.
fn parse_via(
    source: &mut Source<'_>,
    table: &DeTable<'_>,
    at: &Range<usize>,
    srv: &'static SrvSchema,
    what: &str,
) -> Option<Via> {
    let Some((text, span)) = source.string(table, "via", at, what, false) else {
        // Absent is the default; a wrong type or an empty string was reported.
        return table.get("via").is_none().then_some(Via::Run);
    };
    let via = match text.parse::<Via>() {
        Ok(via) => via,
        Err(problem) => {
            source.report(&span, problem);
            return None;
        }
    };
    if via == Via::Optical && !meterlab_dmc::OPTICAL_SRVS.contains(&srv.srv) {
        let carried: Vec<&str> = meterlab_dmc::OPTICAL_SRVS
            .iter()
            .map(|srv| srv.number())
            .collect();
        source.report(
            &span,
            format!(
                "SRV {} cannot go through an optical port: IEC 62056-21 carries only {}",
                srv.srv.number(),
                carried.join(", ")
            ),
        );
        return None;
    }
    Some(via)
}

fn parse_params(
    source: &mut Source<'_>,
    table: &DeTable<'_>,
    srv: &'static SrvSchema,
    captures: &CaptureScope,
    what: &str,
) -> Option<Vec<Param>> {
    let given = source.table(table, "params", what);
    let given_table = given.as_ref().map(|(table, _)| *table);
    let given_span = given.as_ref().map(|(_, span)| span.clone());
    let mut ok = true;
    if let Some(given) = given_table {
        let allowed: Vec<&str> = srv.params.iter().map(|param| param.name).collect();
        for (key, _) in given.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                let expected = if allowed.is_empty() {
                    "it takes no parameters".to_owned()
                } else {
                    format!("it takes {}", allowed.join(", "))
                };
                source.report(
                    &key.span(),
                    format!(
                        "unknown parameter {:?} for SRV {}: {expected}",
                        key.get_ref(),
                        srv.srv.number()
                    ),
                );
                ok = false;
            }
        }
    }
    let mut params = Vec::with_capacity(srv.params.len());
    for param in srv.params {
        let node = given_table.and_then(|given| given.get(param.name));
        let value = match node {
            Some(node) => parse_param(source, node, param, captures, what),
            None => match param.default.map(default_operand) {
                // An optional parameter without a default is left out of the step.
                Some(None) => continue,
                Some(Some(operand)) => Some(ParamValue::Value(operand)),
                None => {
                    let at = given_span.clone().unwrap_or(0..0);
                    let at = if at.is_empty() {
                        table.get("srv").map_or(0..0, |node| node.span())
                    } else {
                        at
                    };
                    source.report(&at, format!("{what} needs parameter `{}`", param.name));
                    None
                }
            },
        };
        match value {
            Some(value) => params.push(Param {
                name: param.name,
                value,
            }),
            None => ok = false,
        }
    }
    ok.then_some(params)
}

/// The value a parameter takes when the step leaves it out; `None` when it stays out.
fn default_operand(default: ParamDefault) -> Option<Operand> {
    match default {
        ParamDefault::Now(offset_ms) => Some(Operand::Now { offset_ms }),
        ParamDefault::Int(value) => Some(Operand::Literal(Value::Int(value.into()))),
        ParamDefault::Enum(name) => Some(Operand::Literal(Value::Enum(name.to_owned()))),
        ParamDefault::Unset => None,
    }
}

fn parse_param(
    source: &mut Source<'_>,
    node: &super::source::Node<'_>,
    param: &ParamSchema,
    captures: &CaptureScope,
    what: &str,
) -> Option<ParamValue> {
    let label = format!("parameter `{}` of {what}", param.name);
    match param.kind {
        ParamKind::Value(field_type) => {
            operand(source, node, field_type, captures, &label).map(ParamValue::Value)
        }
        ParamKind::KeyUpdates => {
            let DeValue::Array(items) = node.get_ref() else {
                source.report(
                    &node.span(),
                    format!("{label} must be an array of {{ kind, key }} tables"),
                );
                return None;
            };
            if items.is_empty() {
                source.report(&node.span(), format!("{label} must name at least one key"));
                return None;
            }
            let mut keys = Vec::with_capacity(items.len());
            let mut ok = true;
            for item in items.iter() {
                let DeValue::Table(entry) = item.get_ref() else {
                    source.report(
                        &item.span(),
                        format!("{label}: each key is a {{ kind, key }} table"),
                    );
                    ok = false;
                    continue;
                };
                source.allow_keys(entry, &KEY_UPDATE_KEYS, &label);
                let kind = source
                    .string(entry, "kind", &item.span(), &label, true)
                    .and_then(|(kind, span)| {
                        if KEY_KIND.number_of(&kind).is_none() {
                            source.report(
                                &span,
                                format!(
                                    "{label}: unknown key kind {kind:?}; expected {}",
                                    KEY_KIND.choices()
                                ),
                            );
                            None
                        } else {
                            Some(kind)
                        }
                    });
                let key = match entry.get("key") {
                    Some(key_node) => {
                        let key = operand(source, key_node, FieldType::Bytes, captures, &label);
                        if let Some(Operand::Literal(Value::Bytes(bytes))) = &key
                            && bytes.len() != 16
                        {
                            source.report(
                                &key_node.span(),
                                format!(
                                    "{label}: an AES-128 key is 16 bytes (32 hex digits), found {}",
                                    bytes.len()
                                ),
                            );
                            ok = false;
                        }
                        key
                    }
                    None => {
                        source.report(&item.span(), format!("{label}: a key entry has no `key`"));
                        None
                    }
                };
                match (kind, key) {
                    (Some(kind), Some(key)) => keys.push(KeySpec { kind, key }),
                    _ => ok = false,
                }
            }
            ok.then_some(ParamValue::Keys(keys))
        }
        ParamKind::FirmwareImage => {
            let DeValue::Table(image) = node.get_ref() else {
                source.report(
                    &node.span(),
                    format!("{label} must be a table {{ model, version, payload_bytes, corrupt }}"),
                );
                return None;
            };
            let span = node.span();
            source.allow_keys(image, &IMAGE_KEYS, &label);
            let model = field_operand(
                source,
                image,
                "model",
                &span,
                FieldType::Str,
                captures,
                &label,
            );
            let version = field_operand(
                source,
                image,
                "version",
                &span,
                FieldType::Str,
                captures,
                &label,
            );
            let payload_bytes = match source.integer(image, "payload_bytes", &span, &label, false) {
                None => Some(1024),
                Some((bytes, span)) if (1..=MAX_PAYLOAD_BYTES).contains(&bytes) => {
                    u32::try_from(bytes).ok().or_else(|| {
                        source.report(&span, format!("{label}: payload_bytes is too large"));
                        None
                    })
                }
                Some((bytes, span)) => {
                    source.report(
                        &span,
                        format!(
                            "{label}: payload_bytes must be 1..={MAX_PAYLOAD_BYTES}, found {bytes}"
                        ),
                    );
                    None
                }
            };
            let corrupt = source.boolean(image, "corrupt", &label).unwrap_or(false);
            Some(ParamValue::Image(ImageSpec {
                model: model?,
                version: version?,
                payload_bytes: payload_bytes?,
                corrupt,
            }))
        }
    }
}

fn field_operand(
    source: &mut Source<'_>,
    table: &DeTable<'_>,
    key: &str,
    at: &Range<usize>,
    field_type: FieldType,
    captures: &CaptureScope,
    what: &str,
) -> Option<Operand> {
    match table.get(key) {
        Some(node) => operand(
            source,
            node,
            field_type,
            captures,
            &format!("`{key}` of {what}"),
        ),
        None => {
            source.report(at, format!("{what} has no `{key}`"));
            None
        }
    }
}

fn parse_captures(
    source: &mut Source<'_>,
    table: &DeTable<'_>,
    result: &'static MessageSchema,
    what: &str,
) -> Vec<(Capture, FieldType)> {
    let Some((given, _)) = source.table(table, "capture", what) else {
        return Vec::new();
    };
    let mut captures = Vec::new();
    for (name, node) in given.iter() {
        let name_text = name.get_ref().to_string();
        let DeValue::String(path_text) = node.get_ref() else {
            source.report(
                &node.span(),
                format!(
                    "capture {name_text:?} of {what} must be a field path string, found {}",
                    describe(node.get_ref())
                ),
            );
            continue;
        };
        let checked = FieldPath::parse(path_text)
            .and_then(|path| {
                let path_type = path.check(result)?;
                Ok((path, path_type))
            })
            .map_err(|error| error.to_string())
            .and_then(|(path, path_type)| {
                if path_type.many {
                    return Err(format!(
                        "{path}: capture one value or a whole repeated field, not `[*]`"
                    ));
                }
                Ok((path, path_type.leaf))
            });
        match checked {
            Ok((path, leaf)) => captures.push((
                Capture {
                    name: name_text,
                    path,
                },
                leaf,
            )),
            Err(message) => source.report(&node.span(), format!("capture of {what}: {message}")),
        }
    }
    captures
}
