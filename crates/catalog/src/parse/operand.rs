//! Values in case files: literals and references (`{ now = … }`, `{ capture = … }`,
//! `{ device = … }`), each checked against the type it must have where it is used.

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::source::{Node, Source, describe, integer_of};
use crate::model::{DeviceField, Operand};
use crate::schema::FieldType;
use crate::value::Value;

/// Captures defined by earlier steps, with their types.
pub(crate) type CaptureScope = BTreeMap<String, FieldType>;

/// Reads `node` as a value of type `expected`; reports and returns `None` when it is not one.
pub(crate) fn operand(
    source: &mut Source<'_>,
    node: &Node<'_>,
    expected: FieldType,
    captures: &CaptureScope,
    what: &str,
) -> Option<Operand> {
    let span = node.span();
    let wrong = |source: &mut Source<'_>, found: String| {
        source.report(
            &span,
            format!("{what} must be {}, found {found}", expected.describe()),
        );
    };
    match node.get_ref() {
        DeValue::Table(table) => {
            if table.len() != 1 {
                source.report(
                    &span,
                    format!(
                        "{what}: a reference is a table with exactly one of `now`, `capture`, `device`"
                    ),
                );
                return None;
            }
            let (key, value) = table.iter().next()?;
            match key.get_ref().as_ref() {
                "now" => {
                    let Some(offset_ms) = integer_of(value.get_ref()) else {
                        source.report(
                            &value.span(),
                            format!(
                                "{what}: `now` takes an offset in milliseconds, found {}",
                                describe(value.get_ref())
                            ),
                        );
                        return None;
                    };
                    if expected != FieldType::Int {
                        wrong(source, "a time (`now`)".to_owned());
                        return None;
                    }
                    Some(Operand::Now { offset_ms })
                }
                "capture" => {
                    let DeValue::String(name) = value.get_ref() else {
                        source.report(&value.span(), format!("{what}: `capture` names a capture"));
                        return None;
                    };
                    let Some(captured) = captures.get(name.as_ref()) else {
                        let known = if captures.is_empty() {
                            "none".to_owned()
                        } else {
                            captures.keys().cloned().collect::<Vec<_>>().join(", ")
                        };
                        source.report(
                            &value.span(),
                            format!(
                                "{what}: unknown capture {name:?}: no earlier step captures it \
                                 (captured so far: {known})"
                            ),
                        );
                        return None;
                    };
                    if *captured != expected {
                        wrong(
                            source,
                            format!("capture {name:?} of type {}", captured.describe()),
                        );
                        return None;
                    }
                    Some(Operand::Capture(name.to_string()))
                }
                "device" => {
                    let DeValue::String(name) = value.get_ref() else {
                        source.report(
                            &value.span(),
                            format!("{what}: `device` names a field of the device record"),
                        );
                        return None;
                    };
                    let Some((_, field)) = DeviceField::ALL
                        .iter()
                        .find(|(field_name, _)| *field_name == name.as_ref())
                    else {
                        let names: Vec<&str> =
                            DeviceField::ALL.iter().map(|(name, _)| *name).collect();
                        source.report(
                            &value.span(),
                            format!(
                                "{what}: the device record has no field {name:?} (fields: {})",
                                names.join(", ")
                            ),
                        );
                        return None;
                    };
                    let field_type = if field.is_key() {
                        FieldType::Bytes
                    } else {
                        FieldType::Str
                    };
                    if field_type != expected {
                        wrong(
                            source,
                            format!("device field {name:?} ({})", field_type.describe()),
                        );
                        return None;
                    }
                    Some(Operand::Device(*field))
                }
                other => {
                    source.report(
                        &key.span(),
                        format!(
                            "{what}: unknown reference {other:?}; expected `now`, `capture` or `device`"
                        ),
                    );
                    None
                }
            }
        }
        literal => {
            let value = literal_value(literal, expected);
            if value.is_none() {
                wrong(source, describe(literal));
            }
            value.map(Operand::Literal)
        }
    }
}

/// A literal as a value of type `expected`, normalised (enum names as written, hex lower-case).
fn literal_value(literal: &DeValue<'_>, expected: FieldType) -> Option<Value> {
    match (expected, literal) {
        (FieldType::Int, _) => integer_of(literal).map(|value| Value::Int(value.into())),
        (FieldType::Bool, DeValue::Boolean(flag)) => Some(Value::Bool(*flag)),
        (FieldType::Str, DeValue::String(text)) => Some(Value::Str(text.to_string())),
        (FieldType::Enum(schema), DeValue::String(text)) => schema
            .number_of(text)
            .map(|_| Value::Enum(text.to_string())),
        (FieldType::Bytes, DeValue::String(text)) => {
            let digits = text.strip_prefix("0x").unwrap_or(text);
            hex::decode(digits).ok().map(Value::Bytes)
        }
        _ => None,
    }
}
