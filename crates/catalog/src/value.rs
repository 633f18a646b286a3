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
