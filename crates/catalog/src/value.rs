//! A response's result as a plain tree of named fields, so expectations can address it by path
//! (`total_import.value`, `entries[*].event_code`) without knowing protobuf types.

use std::collections::BTreeMap;
use std::fmt;

use meterlab_plugin::pb;
use meterlab_plugin::pb::service_response::Outcome;
use serde::Serialize;

use crate::schema::{EnumSchema, KEY_KIND, LOG_KIND, SUPPLY_STATE, UNIT};

/// A value in a response, a parameter or a capture.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    /// Any integer field (protobuf int32, int64, uint32 and uint64 all fit).
    Int(i128),
    Bool(bool),
    Str(String),
    /// Bytes; shown and written as lower-case hex.
    Bytes(#[serde(serialize_with = "hex_bytes")] Vec<u8>),
    /// An enum value by its short name (`disabled`), or `unknown(N)` for a number the schema
    /// does not name.
    Enum(String),
    List(Vec<Value>),
    Message(BTreeMap<String, Value>),
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&hex::encode(bytes))
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(value) => write!(f, "{value}"),
            Self::Bool(value) => write!(f, "{value}"),
            Self::Str(value) => write!(f, "{value:?}"),
            Self::Bytes(value) => write!(f, "0x{}", hex::encode(value)),
            Self::Enum(value) => f.write_str(value),
            Self::List(values) => {
                f.write_str("[")?;
                for (index, value) in values.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{value}")?;
                }
                f.write_str("]")
            }
            Self::Message(fields) => {
                f.write_str("{")?;
                for (index, (name, value)) in fields.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}: {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn enum_value(schema: &EnumSchema, number: i32) -> Value {
    Value::Enum(
        schema
            .name_of(number)
            .map_or_else(|| format!("unknown({number})"), str::to_owned),
    )
}

struct Fields(BTreeMap<String, Value>);

impl Fields {
    fn new() -> Self {
        Self(BTreeMap::new())
    }

    fn with(mut self, name: &str, value: Value) -> Self {
        self.0.insert(name.to_owned(), value);
        self
    }

    fn done(self) -> Value {
        Value::Message(self.0)
    }
}

fn int(value: impl Into<i128>) -> Value {
    Value::Int(value.into())
}

/// A missing sub-message reads as its default, as protobuf defines it.
fn reading(reading: Option<&pb::Reading>) -> Value {
    let default = pb::Reading::default();
    let reading = reading.unwrap_or(&default);
    Fields::new()
        .with("value", int(reading.value))
        .with("scaler", int(reading.scaler))
        .with("unit", enum_value(&UNIT, reading.unit))
        .done()
}

fn readings(list: &[pb::Reading]) -> Value {
    Value::List(list.iter().map(|item| reading(Some(item))).collect())
}

/// The result message of a successful response as a [`Value::Message`], with the field names of
/// [`crate::schema`]; `None` for an error outcome.
pub fn outcome_value(outcome: &Outcome) -> Option<Value> {
    let value = match outcome {
        Outcome::Error(_) => return None,
        Outcome::InstantaneousImportRegisters(result) => Fields::new()
            .with("device_time_ms", int(result.device_time_ms))
            .with("total_import", reading(result.total_import.as_ref()))
            .with("tou_registers", readings(&result.tou_registers))
            .with("block_registers", readings(&result.block_registers))
            .done(),
        Outcome::DailyReadLog(result) => Fields::new()
            .with(
                "entries",
                Value::List(
                    result
                        .entries
                        .iter()
                        .map(|entry| {
                            Fields::new()
                                .with("captured_at_ms", int(entry.captured_at_ms))
                                .with("total_import", reading(entry.total_import.as_ref()))
                                .with("tou_registers", readings(&entry.tou_registers))
                                .done()
                        })
                        .collect(),
                ),
            )
            .done(),
        Outcome::ProfileData(result) => Fields::new()
            .with("interval_s", int(result.interval_s))
            .with(
                "entries",
                Value::List(
                    result
                        .entries
                        .iter()
                        .map(|entry| {
                            Fields::new()
                                .with("period_end_ms", int(entry.period_end_ms))
                                .with("active_import", reading(entry.active_import.as_ref()))
                                .with("status", int(entry.status))
                                .done()
                        })
                        .collect(),
                ),
            )
            .done(),
        Outcome::DeviceConfigurationMpxn(result) => Fields::new()
            .with("mpxn", Value::Str(result.mpxn.clone()))
            .done(),
        Outcome::ClockSynchronised(result) => Fields::new()
            .with("device_time_before_ms", int(result.device_time_before_ms))
            .with("device_time_after_ms", int(result.device_time_after_ms))
            .with("adjusted", Value::Bool(result.adjusted))
            .done(),
        Outcome::LogEntries(result) => Fields::new()
            .with("log", enum_value(&LOG_KIND, result.log))
            .with(
                "entries",
                Value::List(
                    result
                        .entries
                        .iter()
                        .map(|entry| {
                            Fields::new()
                                .with("occurred_at_ms", int(entry.occurred_at_ms))
                                .with("event_code", int(entry.event_code))
                                .with("description", Value::Str(entry.description.clone()))
                                .done()
                        })
                        .collect(),
                ),
            )
            .done(),
        Outcome::SecurityCredentialsUpdated(result) => Fields::new()
            .with(
                "updated",
                Value::List(
                    result
                        .updated
                        .iter()
                        .map(|kind| enum_value(&KEY_KIND, *kind))
                        .collect(),
                ),
            )
            .done(),
        Outcome::SupplyStatus(result) => Fields::new()
            .with("state", enum_value(&SUPPLY_STATE, result.state))
            .done(),
        Outcome::DeviceCommissioned(result) => Fields::new()
            .with("device_time_ms", int(result.device_time_ms))
            .done(),
        Outcome::FirmwareImageTransferred(result) => Fields::new()
            .with(
                "image_identifier",
                Value::Str(result.image_identifier.clone()),
            )
            .with("verified", Value::Bool(result.verified))
            .done(),
        Outcome::FirmwareVersion(result) => Fields::new()
            .with("version", Value::Str(result.version.clone()))
            .done(),
        Outcome::FirmwareActivated(result) => Fields::new()
            .with("active_version", Value::Str(result.active_version.clone()))
            .with(
                "scheduled_at_ms",
                Value::Int(i128::from(result.scheduled_at_ms)),
            )
            .done(),
    };
    Some(value)
}

/// The SRVs whose successful response carries this outcome (7.1–7.4 share `SupplyStatus`).
pub fn outcome_answers(outcome: &Outcome, srv: pb::Srv) -> bool {
    use pb::Srv;
    match outcome {
        Outcome::Error(_) => true,
        Outcome::InstantaneousImportRegisters(_) => {
            srv == Srv::Srv411ReadInstantaneousImportRegisters
        }
        Outcome::DailyReadLog(_) => srv == Srv::Srv461RetrieveImportDailyReadLog,
        Outcome::ProfileData(_) => srv == Srv::Srv481ReadActiveImportProfileData,
        Outcome::DeviceConfigurationMpxn(_) => srv == Srv::Srv627ReadDeviceConfigurationMpxn,
        Outcome::ClockSynchronised(_) => srv == Srv::Srv611SynchroniseClock,
        Outcome::LogEntries(_) => srv == Srv::Srv613ReadEventOrSecurityLog,
        Outcome::SecurityCredentialsUpdated(_) => srv == Srv::Srv6151UpdateSecurityCredentials,
        Outcome::SupplyStatus(_) => matches!(
            srv,
            Srv::Srv71EnableSupply
                | Srv::Srv72DisableSupply
                | Srv::Srv73ArmSupply
                | Srv::Srv74ReadSupplyStatus
        ),
        Outcome::DeviceCommissioned(_) => srv == Srv::Srv811CommissionDevice,
        Outcome::FirmwareImageTransferred(_) => srv == Srv::Srv111UpdateFirmware,
        Outcome::FirmwareVersion(_) => srv == Srv::Srv112ReadFirmwareVersion,
        Outcome::FirmwareActivated(_) => srv == Srv::Srv113ActivateFirmware,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{FieldType, MessageSchema, SRVS};

    fn reading() -> Option<pb::Reading> {
        Some(pb::Reading {
            value: 7,
            scaler: -1,
            unit: pb::Unit::WattHour.into(),
        })
    }

    /// One fully populated result per SRV (every repeated field holds an element).
    fn sample(srv: pb::Srv) -> Outcome {
        use pb::Srv;
        match srv {
            Srv::Srv411ReadInstantaneousImportRegisters => {
                Outcome::InstantaneousImportRegisters(pb::InstantaneousImportRegisters {
                    device_time_ms: 1,
                    total_import: reading(),
                    tou_registers: vec![pb::Reading::default()],
                    block_registers: vec![pb::Reading::default()],
                })
            }
            Srv::Srv461RetrieveImportDailyReadLog => Outcome::DailyReadLog(pb::DailyReadLog {
                entries: vec![pb::DailyRead {
                    captured_at_ms: 1,
                    total_import: reading(),
                    tou_registers: vec![pb::Reading::default()],
                }],
            }),
            Srv::Srv481ReadActiveImportProfileData => Outcome::ProfileData(pb::ProfileData {
                interval_s: 1800,
                entries: vec![pb::ProfileEntry {
                    period_end_ms: 1,
                    active_import: reading(),
                    status: 0,
                }],
            }),
            Srv::Srv627ReadDeviceConfigurationMpxn => {
                Outcome::DeviceConfigurationMpxn(pb::DeviceConfigurationMpxn {
                    mpxn: "1".to_owned(),
                })
            }
            Srv::Srv611SynchroniseClock => Outcome::ClockSynchronised(pb::ClockSynchronised {
                device_time_before_ms: 1,
                device_time_after_ms: 2,
                adjusted: true,
            }),
            Srv::Srv613ReadEventOrSecurityLog => Outcome::LogEntries(pb::LogEntries {
                log: pb::LogKind::Event.into(),
                entries: vec![pb::LogEntry {
                    occurred_at_ms: 1,
                    event_code: 62,
                    description: "x".to_owned(),
                }],
            }),
            Srv::Srv6151UpdateSecurityCredentials => {
                Outcome::SecurityCredentialsUpdated(pb::SecurityCredentialsUpdated {
                    updated: vec![pb::KeyKind::Master.into()],
                })
            }
            Srv::Srv71EnableSupply
            | Srv::Srv72DisableSupply
            | Srv::Srv73ArmSupply
            | Srv::Srv74ReadSupplyStatus => Outcome::SupplyStatus(pb::SupplyStatus {
                state: pb::SupplyState::Armed.into(),
            }),
            Srv::Srv811CommissionDevice => {
                Outcome::DeviceCommissioned(pb::DeviceCommissioned { device_time_ms: 1 })
            }
            Srv::Srv111UpdateFirmware => {
                Outcome::FirmwareImageTransferred(pb::FirmwareImageTransferred {
                    image_identifier: "i".to_owned(),
                    verified: true,
                })
            }
            Srv::Srv112ReadFirmwareVersion => Outcome::FirmwareVersion(pb::FirmwareVersion {
                version: "v".to_owned(),
            }),
            Srv::Srv113ActivateFirmware => Outcome::FirmwareActivated(pb::FirmwareActivated {
                active_version: "v".to_owned(),
                scheduled_at_ms: 1,
            }),
            Srv::Unspecified => Outcome::Error(pb::ServiceError::default()),
        }
    }

    fn conforms(value: &Value, field_type: FieldType, path: &str) -> Result<(), String> {
        match (field_type, value) {
            (FieldType::Int, Value::Int(_))
            | (FieldType::Bool, Value::Bool(_))
            | (FieldType::Str, Value::Str(_))
            | (FieldType::Bytes, Value::Bytes(_)) => Ok(()),
            (FieldType::Enum(schema), Value::Enum(name))
                if schema.values.contains(&name.as_str()) =>
            {
                Ok(())
            }
            (FieldType::List(element), Value::List(items)) if !items.is_empty() => items
                .iter()
                .try_for_each(|item| conforms(item, *element, &format!("{path}[]"))),
            (FieldType::Message(schema), Value::Message(fields)) => message(schema, fields, path),
            (expected, actual) => Err(format!("{path}: {actual} is not {}", expected.describe())),
        }
    }

    fn message(
        schema: &MessageSchema,
        fields: &BTreeMap<String, Value>,
        path: &str,
    ) -> Result<(), String> {
        if fields.len() != schema.fields.len() {
            return Err(format!(
                "{path}: {} fields, the schema of {} has {}",
                fields.len(),
                schema.name,
                schema.fields.len()
            ));
        }
        for (name, field_type) in schema.fields {
            let value = fields
                .get(*name)
                .ok_or_else(|| format!("{path}.{name} is missing"))?;
            conforms(value, *field_type, &format!("{path}.{name}"))?;
        }
        Ok(())
    }

    #[test]
    fn every_result_converts_to_exactly_the_fields_of_its_schema() {
        for schema in &SRVS {
            let outcome = sample(schema.srv);
            assert!(outcome_answers(&outcome, schema.srv), "{:?}", schema.srv);
            let value = outcome_value(&outcome).expect("a result, not an error");
            let Value::Message(fields) = &value else {
                panic!("{:?} is not a message", schema.srv);
            };
            if let Err(why) = message(schema.result, fields, schema.srv.number()) {
                panic!("{why}");
            }
        }
    }

    #[test]
    fn unknown_enum_numbers_are_shown_not_dropped() {
        let outcome = Outcome::SupplyStatus(pb::SupplyStatus { state: 9 });
        let value = outcome_value(&outcome).expect("a result");
        assert_eq!(value.to_string(), "{state: unknown(9)}");
    }
}
