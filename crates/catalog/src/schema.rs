//! The vocabulary a case file may use, as data: for every SRV of `meterlab_plugin::pb::Srv`, the
//! parameters its request takes and the fields of the result message it answers with.
//!
//! A wait step (`[[case.step]] wait_ms = N`, [`crate::Wait`]) is not an SRV and has no entry
//! here: its only keys are `wait_ms` (integer, 1 ..= [`crate::Wait::MAX_MS`]) and `title`.
//!
//! The loader checks parameter types and expectation field paths against these tables, and
//! [`crate::value::outcome_value`] turns a real response into a [`crate::Value`] tree with exactly
//! these field names (a test keeps the two in step).

use meterlab_plugin::pb::Srv;

/// The type of one message field (or of a step parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Any protobuf integer (int32/int64/uint32/uint64), compared as a whole number.
    Int,
    /// A boolean.
    Bool,
    /// A UTF-8 string.
    Str,
    /// Raw bytes, written as hex in case files.
    Bytes,
    /// A protobuf enum, written by its short lower-case name (e.g. `"disabled"`).
    Enum(&'static EnumSchema),
    /// A nested message.
    Message(&'static MessageSchema),
    /// A repeated field.
    List(&'static FieldType),
}

impl FieldType {
    /// A short description for error messages, e.g. `integer` or `list of Reading`.
    pub fn describe(&self) -> String {
        match self {
            Self::Int => "integer".to_owned(),
            Self::Bool => "boolean".to_owned(),
            Self::Str => "string".to_owned(),
            Self::Bytes => "bytes (hex string)".to_owned(),
            Self::Enum(schema) => format!("{} (one of {})", schema.name, schema.choices()),
            Self::Message(schema) => format!("message {}", schema.name),
            Self::List(element) => format!("list of {}", element.describe()),
        }
    }
}

/// A protobuf enum: its values in number order, by short name.
#[derive(Debug, PartialEq, Eq)]
pub struct EnumSchema {
    /// The protobuf enum name.
    pub name: &'static str,
    /// Short lower-case names; the index is the enum number (`0` is always `unspecified`).
    pub values: &'static [&'static str],
}

impl EnumSchema {
    /// The short name of enum number `number`, if it is known.
    pub fn name_of(&self, number: i32) -> Option<&'static str> {
        usize::try_from(number)
            .ok()
            .and_then(|index| self.values.get(index).copied())
    }

    /// The number of a short name (`unspecified` excluded: no case asks for it).
    pub fn number_of(&self, name: &str) -> Option<i32> {
        self.values
            .iter()
            .position(|value| *value == name)
            .filter(|index| *index > 0)
            .and_then(|index| i32::try_from(index).ok())
    }

    /// The accepted names, for error messages.
    pub fn choices(&self) -> String {
        self.values[1..].join(", ")
    }
}

/// A protobuf message: its fields by name.
#[derive(Debug, PartialEq, Eq)]
pub struct MessageSchema {
    /// The protobuf message name.
    pub name: &'static str,
    /// Field names and types, in proto order.
    pub fields: &'static [(&'static str, FieldType)],
}

impl MessageSchema {
    /// The type of field `name`.
    pub fn field(&self, name: &str) -> Option<FieldType> {
        self.fields
            .iter()
            .find(|(field, _)| *field == name)
            .map(|(_, field_type)| *field_type)
    }

    /// The field names, for error messages.
    pub fn field_names(&self) -> String {
        self.fields
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub static UNIT: EnumSchema = EnumSchema {
    name: "Unit",
    values: &[
        "unspecified",
        "watt_hour",
        "watt",
        "cubic_metre",
        "kilowatt_hour",
    ],
};

pub static SUPPLY_STATE: EnumSchema = EnumSchema {
    name: "SupplyState",
    values: &["unspecified", "enabled", "disabled", "armed"],
};

pub static LOG_KIND: EnumSchema = EnumSchema {
    name: "LogKind",
    values: &["unspecified", "event", "security"],
};

pub static KEY_KIND: EnumSchema = EnumSchema {
    name: "KeyKind",
    values: &[
        "unspecified",
        "global_unicast_encryption",
        "authentication",
        "master",
    ],
};

pub static READING: MessageSchema = MessageSchema {
    name: "Reading",
    fields: &[
        ("value", FieldType::Int),
        ("scaler", FieldType::Int),
        ("unit", FieldType::Enum(&UNIT)),
    ],
};

static READINGS: FieldType = FieldType::Message(&READING);

pub static INSTANTANEOUS_IMPORT_REGISTERS: MessageSchema = MessageSchema {
    name: "InstantaneousImportRegisters",
    fields: &[
        ("device_time_ms", FieldType::Int),
        ("total_import", FieldType::Message(&READING)),
        ("tou_registers", FieldType::List(&READINGS)),
        ("block_registers", FieldType::List(&READINGS)),
    ],
};

pub static DAILY_READ: MessageSchema = MessageSchema {
    name: "DailyRead",
    fields: &[
        ("captured_at_ms", FieldType::Int),
        ("total_import", FieldType::Message(&READING)),
        ("tou_registers", FieldType::List(&READINGS)),
    ],
};

static DAILY_READS: FieldType = FieldType::Message(&DAILY_READ);

pub static DAILY_READ_LOG: MessageSchema = MessageSchema {
    name: "DailyReadLog",
    fields: &[("entries", FieldType::List(&DAILY_READS))],
};

pub static PROFILE_ENTRY: MessageSchema = MessageSchema {
    name: "ProfileEntry",
    fields: &[
        ("period_end_ms", FieldType::Int),
        ("active_import", FieldType::Message(&READING)),
        ("status", FieldType::Int),
    ],
};

static PROFILE_ENTRIES: FieldType = FieldType::Message(&PROFILE_ENTRY);

pub static PROFILE_DATA: MessageSchema = MessageSchema {
    name: "ProfileData",
    fields: &[
        ("interval_s", FieldType::Int),
        ("entries", FieldType::List(&PROFILE_ENTRIES)),
    ],
};

pub static DEVICE_CONFIGURATION_MPXN: MessageSchema = MessageSchema {
    name: "DeviceConfigurationMpxn",
    fields: &[("mpxn", FieldType::Str)],
};

pub static CLOCK_SYNCHRONISED: MessageSchema = MessageSchema {
    name: "ClockSynchronised",
    fields: &[
        ("device_time_before_ms", FieldType::Int),
        ("device_time_after_ms", FieldType::Int),
        ("adjusted", FieldType::Bool),
    ],
};

pub static LOG_ENTRY: MessageSchema = MessageSchema {
    name: "LogEntry",
    fields: &[
        ("occurred_at_ms", FieldType::Int),
        ("event_code", FieldType::Int),
        ("description", FieldType::Str),
    ],
};

static LOG_ENTRY_LIST: FieldType = FieldType::Message(&LOG_ENTRY);

pub static LOG_ENTRIES: MessageSchema = MessageSchema {
    name: "LogEntries",
    fields: &[
        ("log", FieldType::Enum(&LOG_KIND)),
        ("entries", FieldType::List(&LOG_ENTRY_LIST)),
    ],
};

static KEY_KINDS: FieldType = FieldType::Enum(&KEY_KIND);

pub static SECURITY_CREDENTIALS_UPDATED: MessageSchema = MessageSchema {
    name: "SecurityCredentialsUpdated",
    fields: &[("updated", FieldType::List(&KEY_KINDS))],
};

pub static SUPPLY_STATUS: MessageSchema = MessageSchema {
    name: "SupplyStatus",
    fields: &[("state", FieldType::Enum(&SUPPLY_STATE))],
};

pub static DEVICE_COMMISSIONED: MessageSchema = MessageSchema {
    name: "DeviceCommissioned",
    fields: &[("device_time_ms", FieldType::Int)],
};

pub static FIRMWARE_IMAGE_TRANSFERRED: MessageSchema = MessageSchema {
    name: "FirmwareImageTransferred",
    fields: &[
        ("image_identifier", FieldType::Str),
        ("verified", FieldType::Bool),
    ],
};

pub static FIRMWARE_VERSION: MessageSchema = MessageSchema {
    name: "FirmwareVersion",
    fields: &[("version", FieldType::Str)],
};

pub static FIRMWARE_ACTIVATED: MessageSchema = MessageSchema {
    name: "FirmwareActivated",
    fields: &[
        ("active_version", FieldType::Str),
        ("scheduled_at_ms", FieldType::Int),
    ],
};

/// The kind of a step parameter: a typed value, or one of the structured forms a few SRVs need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A single value of this type (a literal or a reference: `now`, a capture, the device record).
    Value(FieldType),
    /// 6.15.1: a list of `{ kind, key }` tables; keys are wrapped under the device's master key.
    KeyUpdates,
    /// 11.1: `{ model, version, payload_bytes, corrupt }`, an emulator-format (MLFW) image built
    /// when the request is made.
    FirmwareImage,
}

/// One parameter a request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSchema {
    pub name: &'static str,
    pub kind: ParamKind,
    /// What the parameter is when the step leaves it out; `None` means it is required.
    pub default: Option<ParamDefault>,
}

/// A parameter's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamDefault {
    /// The reference clock plus this offset (ms).
    Now(i64),
    /// This integer.
    Int(i64),
    /// This enum name.
    Enum(&'static str),
    /// Optional: absent unless the step gives it.
    Unset,
}

const fn param(name: &'static str, kind: FieldType, default: Option<ParamDefault>) -> ParamSchema {
    ParamSchema {
        name,
        kind: ParamKind::Value(kind),
        default,
    }
}

const DAY_MS: i64 = 86_400_000;

static RANGE_PARAMS: [ParamSchema; 2] = [
    param("from_ms", FieldType::Int, Some(ParamDefault::Now(-DAY_MS))),
    param("to_ms", FieldType::Int, Some(ParamDefault::Now(0))),
];

static SYNCHRONISE_CLOCK_PARAMS: [ParamSchema; 2] = [
    param("utc_ms", FieldType::Int, Some(ParamDefault::Now(0))),
    param("tolerance_ms", FieldType::Int, Some(ParamDefault::Int(0))),
];

static EVENT_LOG_PARAMS: [ParamSchema; 3] = [
    param(
        "log",
        FieldType::Enum(&LOG_KIND),
        Some(ParamDefault::Enum("event")),
    ),
    param("from_ms", FieldType::Int, Some(ParamDefault::Now(-DAY_MS))),
    param("to_ms", FieldType::Int, Some(ParamDefault::Now(0))),
];

static KEY_PARAMS: [ParamSchema; 2] = [
    ParamSchema {
        name: "keys",
        kind: ParamKind::KeyUpdates,
        default: None,
    },
    // A negative test wraps under a key the device does not hold; normally the device's master key.
    param("wrapping_key", FieldType::Bytes, Some(ParamDefault::Unset)),
];

static COMMISSION_PARAMS: [ParamSchema; 1] =
    [param("utc_ms", FieldType::Int, Some(ParamDefault::Now(0)))];

static UPDATE_FIRMWARE_PARAMS: [ParamSchema; 2] = [
    param("image_identifier", FieldType::Str, None),
    ParamSchema {
        name: "image",
        kind: ParamKind::FirmwareImage,
        default: None,
    },
];

static ACTIVATE_FIRMWARE_PARAMS: [ParamSchema; 2] = [
    param("image_identifier", FieldType::Str, None),
    param("activate_at_ms", FieldType::Int, Some(ParamDefault::Int(0))),
];

/// Everything the catalogue knows about one SRV.
#[derive(Debug)]
pub struct SrvSchema {
    pub srv: Srv,
    /// The parameters its request takes.
    pub params: &'static [ParamSchema],
    /// The result message of a successful response.
    pub result: &'static MessageSchema,
}

/// Every SRV of the vocabulary, in DUIS number order.
pub static SRVS: [SrvSchema; 15] = [
    SrvSchema {
        srv: Srv::Srv411ReadInstantaneousImportRegisters,
        params: &[],
        result: &INSTANTANEOUS_IMPORT_REGISTERS,
    },
    SrvSchema {
        srv: Srv::Srv461RetrieveImportDailyReadLog,
        params: &RANGE_PARAMS,
        result: &DAILY_READ_LOG,
    },
    SrvSchema {
        srv: Srv::Srv481ReadActiveImportProfileData,
        params: &RANGE_PARAMS,
        result: &PROFILE_DATA,
    },
    SrvSchema {
        srv: Srv::Srv627ReadDeviceConfigurationMpxn,
        params: &[],
        result: &DEVICE_CONFIGURATION_MPXN,
    },
    SrvSchema {
        srv: Srv::Srv611SynchroniseClock,
        params: &SYNCHRONISE_CLOCK_PARAMS,
        result: &CLOCK_SYNCHRONISED,
    },
    SrvSchema {
        srv: Srv::Srv613ReadEventOrSecurityLog,
        params: &EVENT_LOG_PARAMS,
        result: &LOG_ENTRIES,
    },
    SrvSchema {
        srv: Srv::Srv6151UpdateSecurityCredentials,
        params: &KEY_PARAMS,
        result: &SECURITY_CREDENTIALS_UPDATED,
    },
    SrvSchema {
        srv: Srv::Srv71EnableSupply,
        params: &[],
        result: &SUPPLY_STATUS,
    },
    SrvSchema {
        srv: Srv::Srv72DisableSupply,
        params: &[],
        result: &SUPPLY_STATUS,
    },
    SrvSchema {
        srv: Srv::Srv73ArmSupply,
        params: &[],
        result: &SUPPLY_STATUS,
    },
    SrvSchema {
        srv: Srv::Srv74ReadSupplyStatus,
        params: &[],
        result: &SUPPLY_STATUS,
    },
    SrvSchema {
        srv: Srv::Srv811CommissionDevice,
        params: &COMMISSION_PARAMS,
        result: &DEVICE_COMMISSIONED,
    },
    SrvSchema {
        srv: Srv::Srv111UpdateFirmware,
        params: &UPDATE_FIRMWARE_PARAMS,
        result: &FIRMWARE_IMAGE_TRANSFERRED,
    },
    SrvSchema {
        srv: Srv::Srv112ReadFirmwareVersion,
        params: &[],
        result: &FIRMWARE_VERSION,
    },
    SrvSchema {
        srv: Srv::Srv113ActivateFirmware,
        params: &ACTIVATE_FIRMWARE_PARAMS,
        result: &FIRMWARE_ACTIVATED,
    },
];

/// The schema of the SRV numbered `number` (as DUIS writes it, e.g. `"7.2"`).
pub fn by_number(number: &str) -> Option<&'static SrvSchema> {
    SRVS.iter().find(|schema| schema.srv.number() == number)
}

/// The schema of `srv`.
pub fn of(srv: Srv) -> Option<&'static SrvSchema> {
    SRVS.iter().find(|schema| schema.srv == srv)
}

/// The SRV numbers, for error messages.
pub fn numbers() -> String {
    SRVS.iter()
        .map(|schema| schema.srv.number())
        .collect::<Vec<_>>()
        .join(", ")
}

impl SrvSchema {
    /// The parameter called `name`.
    pub fn param(&self, name: &str) -> Option<&'static ParamSchema> {
        self.params.iter().find(|param| param.name == name)
    }
}
