//! Field paths into a result message: `total_import.value`, `entries[0].event_code`,
//! `entries[-1].period_end_ms` (from the end), `entries[*].event_code` (every entry),
//! `entries.count` (how many) and `total_import.normalised` (a reading as a whole number of
//! thousandths of its base unit, so readings of different scalers and units compare).

use std::fmt;

use serde::Serialize;

use crate::schema::{FieldType, MessageSchema, READING};
use crate::value::Value;

/// Why a field path is not valid, does not fit a message, or designates nothing in a response.
/// Every message names the path as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("empty field path")]
    Empty,
    #[error("{part:?} in {path:?}: expected `name[index]`")]
    UnclosedIndex { path: String, part: String },
    #[error("{part:?} in {path:?}: the index must be a whole number or `*`")]
    BadIndex { path: String, part: String },
    #[error("{part:?} in {path:?} is not a field name (lower-case letters, digits, `_`)")]
    BadName { path: String, part: String },
    #[error("{path}: `count` applies to a repeated field, not to {found}")]
    CountOfScalar { path: String, found: String },
    #[error("{path}: `{NORMALISED}` applies to a Reading, not to {found}")]
    NormalisedNotReading { path: String, found: String },
    #[error("{path}: {found} has no field {name:?}")]
    FieldOfScalar {
        path: String,
        found: String,
        name: String,
    },
    #[error("{path}: {message} has no field {name:?} (fields: {fields})")]
    UnknownField {
        path: String,
        message: &'static str,
        name: String,
        fields: String,
    },
    #[error("{path}: {name} is not a repeated field and cannot be indexed")]
    IndexedScalar { path: String, name: String },
    #[error("{path}: only one `[*]` is allowed in a path")]
    TwoWildcards { path: String },
    #[error("{path}: {found} is not a list")]
    NotAList { path: String, found: String },
    #[error("{path}: no field {name:?} here")]
    NoFieldHere { path: String, name: String },
    #[error("{path}: the response has no {name:?}")]
    Missing { path: String, name: String },
    #[error("{path}: {name} has {len} entries, no [{at}]")]
    OutOfRange {
        path: String,
        name: String,
        len: i64,
        at: i64,
    },
    #[error("{path}: nothing at this path")]
    Nothing { path: String },
    #[error("{path}: {found} is not a reading")]
    NotAReading { path: String, found: String },
    #[error("{path}: {name} is {found}, not a number")]
    NotANumber {
        path: String,
        name: String,
        found: String,
    },
    #[error("{path}: {source}")]
    Normalise {
        path: String,
        source: NormaliseError,
    },
}

/// Why a reading cannot be put in thousandths of its base unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error("a reading in unit {unit} cannot be normalised")]
    UnknownUnit { unit: String },
    #[error("{value} × 10^{scaler} {unit} is out of range")]
    OutOfRange {
        value: i128,
        scaler: i128,
        unit: String,
    },
    #[error("{value} × 10^{scaler} {unit} is not a whole number of thousandths of the base unit")]
    NotWhole {
        value: i128,
        scaler: i128,
        unit: String,
    },
}

/// Which elements of a repeated field a path segment takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Index {
    /// One element; negative counts from the end (`-1` is the last).
    At(i64),
    /// Every element.
    All,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Segment {
    /// A field, optionally indexed when repeated.
    Field { name: String, index: Option<Index> },
    /// The number of elements of the repeated field before it.
    Count,
    /// The `Reading` before it as `value × 10^scaler` in thousandths of its base unit.
    Normalised,
}

/// The final segment that normalises a `Reading`.
const NORMALISED: &str = "normalised";

/// Thousandths of the base unit in one of `unit`: mWh for `watt_hour` and `kilowatt_hour`, mW
/// for `watt`, litres for `cubic_metre`.
fn milli_base_per_unit(unit: &str) -> Option<i128> {
    match unit {
        "watt_hour" | "watt" | "cubic_metre" => Some(1_000),
        "kilowatt_hour" => Some(1_000_000),
        _ => None,
    }
}

/// `value × 10^scaler` of `unit`, in thousandths of the base unit; `Err` when the unit is not
/// known or the result is not a whole number of thousandths (or does not fit).
pub(crate) fn normalise_reading(
    value: i128,
    scaler: i128,
    unit: &str,
) -> Result<i128, NormaliseError> {
    let per_unit = milli_base_per_unit(unit).ok_or_else(|| NormaliseError::UnknownUnit {
        unit: unit.to_owned(),
    })?;
    let overflow = || NormaliseError::OutOfRange {
        value,
        scaler,
        unit: unit.to_owned(),
    };
    let magnitude = u32::try_from(scaler.unsigned_abs())
        .ok()
        .and_then(|exponent| 10i128.checked_pow(exponent))
        .ok_or_else(overflow)?;
    let scaled = value.checked_mul(per_unit).ok_or_else(overflow)?;
    if scaler >= 0 {
        scaled.checked_mul(magnitude).ok_or_else(overflow)
    } else if scaled % magnitude == 0 {
        Ok(scaled / magnitude)
    } else {
        Err(NormaliseError::NotWhole {
            value,
            scaler,
            unit: unit.to_owned(),
        })
    }
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<Segment>,
    text: String,
}

impl Serialize for FieldPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// What a path designates, by type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathType {
    /// The type of the value (or of each value, when `many`).
    pub leaf: FieldType,
    /// The path goes through `[*]`: it designates every element.
    pub many: bool,
}

/// The values a path designates in a real response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    One(Value),
    Many(Vec<Value>),
}

impl FieldPath {
    /// Parses the path syntax (names of letters, digits and `_`; `[N]`, `[-N]`, `[*]`; a final
    /// `count`). Field names are checked separately, against a schema.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.trim().is_empty() {
            return Err(PathError::Empty);
        }
        let at = |part: &str| (text.to_owned(), part.to_owned());
        let parts: Vec<&str> = text.split('.').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (position, part) in parts.iter().enumerate() {
            if *part == "count" && position > 0 && position == parts.len() - 1 {
                segments.push(Segment::Count);
                continue;
            }
            if *part == NORMALISED && position > 0 && position == parts.len() - 1 {
                segments.push(Segment::Normalised);
                continue;
            }
            let (name, index) = match part.find('[') {
                None => (*part, None),
                Some(open) => {
                    let Some(inner) = part[open + 1..].strip_suffix(']') else {
                        let (path, part) = at(part);
                        return Err(PathError::UnclosedIndex { path, part });
                    };
                    let index = if inner == "*" {
                        Index::All
                    } else {
                        Index::At(inner.parse::<i64>().map_err(|_| {
                            let (path, part) = at(part);
                            PathError::BadIndex { path, part }
                        })?)
                    };
                    (&part[..open], Some(index))
                }
            };
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                let (path, part) = at(part);
                return Err(PathError::BadName { path, part });
            }
            segments.push(Segment::Field {
                name: name.to_owned(),
                index,
            });
        }
        Ok(Self {
            segments,
            text: text.to_owned(),
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The type this path designates in `schema`, or why it designates nothing.
    pub fn check(&self, schema: &'static MessageSchema) -> Result<PathType, PathError> {
        let path = || self.text.clone();
        let mut current = FieldType::Message(schema);
        let mut many = false;
        for segment in &self.segments {
            match segment {
                Segment::Count => {
                    let FieldType::List(_) = current else {
                        return Err(PathError::CountOfScalar {
                            path: path(),
                            found: current.describe(),
                        });
                    };
                    current = FieldType::Int;
                }
                Segment::Normalised => {
                    if !matches!(current, FieldType::Message(message) if message.name == READING.name)
                    {
                        return Err(PathError::NormalisedNotReading {
                            path: path(),
                            found: current.describe(),
                        });
                    }
                    current = FieldType::Int;
                }
                Segment::Field { name, index } => {
                    let FieldType::Message(message) = current else {
                        return Err(PathError::FieldOfScalar {
                            path: path(),
                            found: current.describe(),
                            name: name.clone(),
                        });
                    };
                    let Some(field) = message.field(name) else {
                        return Err(PathError::UnknownField {
                            path: path(),
                            message: message.name,
                            name: name.clone(),
                            fields: message.field_names(),
                        });
                    };
                    current = field;
                    if let Some(index) = index {
                        let FieldType::List(element) = current else {
                            return Err(PathError::IndexedScalar {
                                path: path(),
                                name: name.clone(),
                            });
                        };
                        if *index == Index::All {
                            if many {
                                return Err(PathError::TwoWildcards { path: path() });
                            }
                            many = true;
                        }
                        current = *element;
                    }
                }
            }
        }
        Ok(PathType {
            leaf: current,
            many,
        })
    }

    /// A `Reading` value in thousandths of its base unit.
    fn normalised(&self, reading: &Value) -> Result<i128, PathError> {
        let Value::Message(fields) = reading else {
            return Err(PathError::NotAReading {
                path: self.text.clone(),
                found: reading.to_string(),
            });
        };
        // proto3 leaves zero fields out: a missing value or scaler is 0.
        let int = |name: &str| match fields.get(name) {
            None => Ok(0),
            Some(Value::Int(number)) => Ok(*number),
            Some(other) => Err(PathError::NotANumber {
                path: self.text.clone(),
                name: name.to_owned(),
                found: other.to_string(),
            }),
        };
        let unit = match fields.get("unit") {
            Some(Value::Enum(unit)) => unit.as_str(),
            _ => "unspecified",
        };
        normalise_reading(int("value")?, int("scaler")?, unit).map_err(|source| {
            PathError::Normalise {
                path: self.text.clone(),
                source,
            }
        })
    }

    /// The values this path designates in `root`, or why there are none (an index out of
    /// range, a response that does not carry the field).
    pub fn resolve(&self, root: &Value) -> Result<Resolved, PathError> {
        let path = || self.text.clone();
        let mut current = vec![root.clone()];
        let mut many = false;
        for segment in &self.segments {
            let mut next = Vec::with_capacity(current.len());
            for value in current {
                match segment {
                    Segment::Count => match value {
                        Value::List(items) => next.push(Value::Int(items.len() as i128)),
                        other => {
                            return Err(PathError::NotAList {
                                path: path(),
                                found: other.to_string(),
                            });
                        }
                    },
                    Segment::Normalised => next.push(Value::Int(self.normalised(&value)?)),
                    Segment::Field { name, index } => {
                        let Value::Message(mut fields) = value else {
                            return Err(PathError::NoFieldHere {
                                path: path(),
                                name: name.clone(),
                            });
                        };
                        let Some(field) = fields.remove(name) else {
                            return Err(PathError::Missing {
                                path: path(),
                                name: name.clone(),
                            });
                        };
                        match index {
                            None => next.push(field),
                            Some(index) => {
                                let Value::List(items) = field else {
                                    return Err(PathError::NotAList {
                                        path: path(),
                                        found: name.clone(),
                                    });
                                };
                                match index {
                                    Index::All => {
                                        many = true;
                                        next.extend(items);
                                    }
                                    Index::At(at) => {
                                        let len = items.len() as i64;
                                        let position = if *at < 0 { len + at } else { *at };
                                        let Some(item) = usize::try_from(position)
                                            .ok()
                                            .and_then(|position| items.into_iter().nth(position))
                                        else {
                                            return Err(PathError::OutOfRange {
                                                path: path(),
                                                name: name.clone(),
                                                len,
                                                at: *at,
                                            });
                                        };
                                        next.push(item);
                                    }
                                }
                            }
                        }
                    }
                }
            }
            current = next;
        }
        if many {
            Ok(Resolved::Many(current))
        } else {
            match current.into_iter().next() {
                Some(value) => Ok(Resolved::One(value)),
                None => Err(PathError::Nothing { path: path() }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{INSTANTANEOUS_IMPORT_REGISTERS, LOG_ENTRIES};

    #[test]
    fn nested_fields_and_counts_type_check() {
        let path = FieldPath::parse("total_import.value").expect("valid path");
        assert_eq!(
            path.check(&INSTANTANEOUS_IMPORT_REGISTERS),
            Ok(PathType {
                leaf: FieldType::Int,
                many: false
            })
        );
        let path = FieldPath::parse("entries.count").expect("valid path");
        assert_eq!(path.check(&LOG_ENTRIES).map(|t| t.leaf), Ok(FieldType::Int));
        let path = FieldPath::parse("entries[*].event_code").expect("valid path");
        assert_eq!(
            path.check(&LOG_ENTRIES),
            Ok(PathType {
                leaf: FieldType::Int,
                many: true
            })
        );
    }

    #[test]
    fn unknown_fields_and_bad_indexing_are_refused_with_the_field_list() {
        let path = FieldPath::parse("total_import.valeu").expect("syntax is fine");
        let error = path
            .check(&INSTANTANEOUS_IMPORT_REGISTERS)
            .expect_err("no such field");
        assert!(
            error.to_string().contains("fields: value, scaler, unit"),
            "{error}"
        );
        let path = FieldPath::parse("device_time_ms[0]").expect("syntax is fine");
        assert!(path.check(&INSTANTANEOUS_IMPORT_REGISTERS).is_err());
        let path = FieldPath::parse("device_time_ms.count").expect("syntax is fine");
        assert!(path.check(&INSTANTANEOUS_IMPORT_REGISTERS).is_err());
    }

    #[test]
    fn a_normalised_reading_is_an_integer_and_only_readings_normalise() {
        let path = FieldPath::parse("total_import.normalised").expect("valid path");
        assert_eq!(
            path.check(&INSTANTANEOUS_IMPORT_REGISTERS).map(|t| t.leaf),
            Ok(FieldType::Int)
        );
        let error = FieldPath::parse("device_time_ms.normalised")
            .expect("syntax is fine")
            .check(&INSTANTANEOUS_IMPORT_REGISTERS)
            .expect_err("not a reading");
        assert!(
            error.to_string().contains("applies to a Reading"),
            "{error}"
        );
        let error = FieldPath::parse("entries.normalised")
            .expect("syntax is fine")
            .check(&LOG_ENTRIES)
            .expect_err("a list is not a reading");
        assert!(
            error.to_string().contains("applies to a Reading"),
            "{error}"
        );
    }

    fn reading(value: i128, scaler: Option<i128>, unit: &str) -> Value {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("value".to_owned(), Value::Int(value));
        if let Some(scaler) = scaler {
            fields.insert("scaler".to_owned(), Value::Int(scaler));
        }
        fields.insert("unit".to_owned(), Value::Enum(unit.to_owned()));
        let mut root = std::collections::BTreeMap::new();
        root.insert("total_import".to_owned(), Value::Message(fields));
        Value::Message(root)
    }

    #[test]
    fn the_same_energy_in_wh_and_in_kwh_normalises_alike() {
        let path = FieldPath::parse("total_import.normalised").expect("valid path");
        // The DLMS register (Wh, scaler 0) and the optical readout `001523.456*kWh`.
        let dlms = path.resolve(&reading(1_523_456, None, "watt_hour"));
        let optical = path.resolve(&reading(1_523_456, Some(-3), "kilowatt_hour"));
        assert_eq!(dlms, Ok(Resolved::One(Value::Int(1_523_456_000))));
        assert_eq!(optical, dlms);
        // 1.5234 kWh read with one more digit is 1523.4 Wh, not 1523456 Wh.
        let finer = path.resolve(&reading(15_234, Some(-4), "kilowatt_hour"));
        assert_eq!(finer, Ok(Resolved::One(Value::Int(1_523_400))));
        assert_eq!(
            path.resolve(&reading(12, Some(2), "watt_hour")),
            Ok(Resolved::One(Value::Int(1_200_000)))
        );
    }

    #[test]
    fn a_reading_that_cannot_be_normalised_exactly_is_an_error() {
        let path = FieldPath::parse("total_import.normalised").expect("valid path");
        let error = path
            .resolve(&reading(1, Some(-4), "watt_hour"))
            .expect_err("a tenth of a mWh");
        assert!(
            matches!(
                &error,
                PathError::Normalise {
                    source: NormaliseError::NotWhole { .. },
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("whole number of thousandths"),
            "{error}"
        );
        let error = path
            .resolve(&reading(1, None, "unspecified"))
            .expect_err("no unit");
        assert!(
            error.to_string().contains("cannot be normalised"),
            "{error}"
        );
        assert!(path.resolve(&reading(1, Some(60), "watt_hour")).is_err());
        assert!(
            path.resolve(&reading(i128::MAX, None, "watt_hour"))
                .is_err()
        );
    }

    #[test]
    fn malformed_paths_are_refused() {
        for text in ["", "a..b", "a[", "a[x]", "A", "a.b[1", "[0]"] {
            assert!(FieldPath::parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn negative_indexes_count_from_the_end() {
        let mut entry = std::collections::BTreeMap::new();
        entry.insert(
            "entries".to_owned(),
            Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
        );
        let root = Value::Message(entry);
        let last = FieldPath::parse("entries[-1]").expect("valid");
        assert_eq!(last.resolve(&root), Ok(Resolved::One(Value::Int(3))));
        let beyond = FieldPath::parse("entries[3]").expect("valid");
        assert!(beyond.resolve(&root).is_err());
        let count = FieldPath::parse("entries.count").expect("valid");
        assert_eq!(count.resolve(&root), Ok(Resolved::One(Value::Int(3))));
    }
}
