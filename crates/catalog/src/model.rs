//! The validated catalogue model: cases, steps, parameters and expectations. Everything here has
//! passed the loader's checks; its serde form is the canonical form a case's hash is taken over.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use meterlab_devices::{DeviceRole, Location};
use meterlab_plugin::pb::Srv;
use serde::{Serialize, Serializer};

use crate::path::FieldPath;
use crate::value::Value;

/// The test phase a case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Phase {
    /// Migration Testing.
    #[serde(rename = "MT")]
    Mt,
    /// Systems Integration Testing.
    #[serde(rename = "SIT")]
    Sit,
}

impl Phase {
    /// `MT` or `SIT`, as case files and Depth & Breadth documents write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mt => "MT",
            Self::Sit => "SIT",
        }
    }
}

impl FromStr for Phase {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "MT" => Ok(Self::Mt),
            "SIT" => Ok(Self::Sit),
            other => Err(format!("unknown phase {other:?}; expected MT or SIT")),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The installation mode a case is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Operated by an SMSO.
    Active,
    /// Without supplier service.
    Dormant,
    /// A hub with one active and one dormant meter.
    Mixed,
}

impl Mode {
    /// `active`, `dormant` or `mixed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Dormant => "dormant",
            Self::Mixed => "mixed",
        }
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "active" => Ok(Self::Active),
            "dormant" => Ok(Self::Dormant),
            "mixed" => Ok(Self::Mixed),
            other => Err(format!(
                "unknown mode {other:?}; expected active, dormant or mixed"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The suggested severity of a Testing Issue raised when the case fails: 1 (worst) to 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Severity(u8);

impl Severity {
    /// A severity in 1..=5.
    pub fn new(level: u8) -> Option<Self> {
        (1..=5).contains(&level).then_some(Self(level))
    }

    /// The level, 1..=5.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// SHA-256 of a case's canonical form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Lower-case hex, 64 digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

fn serialize_srv<S: Serializer>(srv: &Srv, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(srv.number())
}

fn serialize_roles<S: Serializer>(roles: &[DeviceRole], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(roles.iter().map(|role| role.as_str()))
}

/// One test case.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// Unique across the catalogue, e.g. `SIT-SUP-001`.
    pub id: String,
    pub title: String,
    pub phase: Phase,
    /// Installation modes it applies to (sorted, no duplicates).
    pub modes: Vec<Mode>,
    /// Device types it runs on (sorted, no duplicates).
    #[serde(serialize_with = "serialize_roles")]
    pub device_types: Vec<DeviceRole>,
    /// The Depth & Breadth reference it covers.
    pub dnb_ref: String,
    /// Suggested severity of a Testing Issue when it fails.
    pub severity: Severity,
    /// Free text for the test manager (why the case matters).
    pub description: Option<String>,
    pub steps: Vec<Step>,
    /// `[[case.restore]]`: steps that put back device state the case may have changed (supply,
    /// clock, keys, firmware). The runner runs them after every attempt that sent a request,
    /// whatever its outcome; they see none of the case's captures. Left out of the canonical
    /// form when empty, so cases without them keep their hashes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restore: Vec<Step>,
    /// `[[case.step]] wait_ms = N` steps: pauses between the case's SRV steps, in file order.
    /// Left out of the canonical form when empty, so cases without them keep their hashes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<Wait>,
    /// SHA-256 of [`Case::canonical_json`]: changes with any edit of meaning, not with layout.
    #[serde(skip)]
    pub content_hash: ContentHash,
    /// Where the case starts in its file.
    #[serde(skip)]
    pub location: Location,
}

impl Case {
    /// The canonical form the content hash is taken over: compact JSON of the validated case
    /// (fields in a fixed order, defaults filled in, sets sorted, hex lower-case), prefixed with
    /// the canonical-form version.
    pub fn canonical_json(&self) -> String {
        crate::canonical::canonical_json(self)
    }

    /// Whether the case is written for installation mode `mode`.
    pub fn covers_mode(&self, mode: Mode) -> bool {
        self.modes.contains(&mode)
    }

    /// Whether a step goes through the device's optical port (`via = "optical"`).
    pub fn uses_optical(&self) -> bool {
        self.steps.iter().any(|step| step.via == Via::Optical)
    }

    /// Whether the case runs on a device of type `role`.
    pub fn covers_device(&self, role: DeviceRole) -> bool {
        self.device_types.contains(&role)
    }
}

/// A wait step (`[[case.step]] wait_ms = 3000`): the runner lets this much time pass, on its
/// own clock and within the case timeout, before the case's next SRV step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wait {
    /// How many of the case's SRV steps ([`Case::steps`]) run before the wait.
    pub after_steps: usize,
    /// How long to wait, in milliseconds (1 ..= [`Wait::MAX_MS`]).
    pub wait_ms: u64,
    pub title: Option<String>,
    /// 0-based position among all the case's `[[case.step]]` tables (SRV and wait steps).
    #[serde(skip)]
    pub index: usize,
    /// Where the step starts in its file.
    #[serde(skip)]
    pub location: Location,
}

impl Wait {
    /// The longest wait a case may ask for: ten minutes. A longer pause is a scheduling
    /// problem, not a test step.
    pub const MAX_MS: u64 = 600_000;
}

/// One step: a service request and what its response must show.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// 0-based position in the case.
    #[serde(skip)]
    pub index: usize,
    #[serde(serialize_with = "serialize_srv")]
    pub srv: Srv,
    pub title: Option<String>,
    /// Parameters in the SRV's parameter order, defaults filled in.
    pub params: Vec<Param>,
    /// Values taken from a successful response for later steps.
    pub captures: Vec<Capture>,
    pub expect: Expectations,
    /// The device port the step's request goes through. Left out of the canonical form when it
    /// is the default, so cases written before `via` existed keep their content hash.
    #[serde(skip_serializing_if = "Via::is_default")]
    pub via: Via,
    /// `"<case id>/<step number>"`, the request id of the request it builds.
    #[serde(skip)]
    pub request_id: String,
    /// Where the step starts in its file.
    #[serde(skip)]
    pub location: Location,
}

/// Which of a device's ports a step's request goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The port and adapter the run reaches the device through (DLMS over the TCP wrapper or
    /// HDLC).
    #[default]
    Run,
    /// The meter's IEC 62056-21 optical port, through the run's optical adapter.
    Optical,
}

impl Via {
    /// `run` or `optical`, as case files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Optical => "optical",
        }
    }

    fn is_default(&self) -> bool {
        *self == Self::Run
    }
}

impl FromStr for Via {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "run" => Ok(Self::Run),
            "optical" => Ok(Self::Optical),
            other => Err(format!(
                "unknown port {other:?}; expected \"run\" (the run's own port) or \"optical\""
            )),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request parameter.
#[derive(Debug, Clone, Serialize)]
pub struct Param {
    pub name: &'static str,
    pub value: ParamValue,
}

/// A parameter's value.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamValue {
    Value(Operand),
    /// 6.15.1's keys.
    Keys(Vec<KeySpec>),
    /// 11.1's image.
    Image(ImageSpec),
}

/// One key of an Update Security Credentials request, before wrapping.
#[derive(Debug, Clone, Serialize)]
pub struct KeySpec {
    /// A `KeyKind` short name, e.g. `global_unicast_encryption`.
    pub kind: String,
    /// 16 bytes: a literal or a device-record key.
    pub key: Operand,
}

/// A firmware image built when the request is made (the emulator's MLFW format).
#[derive(Debug, Clone, Serialize)]
pub struct ImageSpec {
    /// The device model it targets (usually `{ device = "model" }`).
    pub model: Operand,
    /// The version it installs.
    pub version: Operand,
    /// Size of the filler payload.
    pub payload_bytes: u32,
    /// Flip a payload byte after sealing, so the device's verification must refuse it.
    pub corrupt: bool,
}

/// A value in a case: a literal or a reference resolved when the step runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operand {
    Literal(Value),
    /// The reference UTC clock plus an offset.
    Now {
        offset_ms: i64,
    },
    /// A value captured by an earlier step of the case.
    Capture(String),
    /// A field of the device's record in the devices file.
    Device(DeviceField),
}

/// Fields of a devices-file record a case may refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceField {
    Name,
    Hub,
    Dmc,
    Smso,
    Model,
    Firmware,
    Mpxn,
    State,
    Role,
    /// Keys of the device's key-holding client (the one with a master key).
    EncryptionKey,
    AuthenticationKey,
    MasterKey,
}

impl DeviceField {
    /// Every field, with its name in case files.
    pub const ALL: [(&'static str, DeviceField); 12] = [
        ("name", Self::Name),
        ("hub", Self::Hub),
        ("dmc", Self::Dmc),
        ("smso", Self::Smso),
        ("model", Self::Model),
        ("firmware", Self::Firmware),
        ("mpxn", Self::Mpxn),
        ("state", Self::State),
        ("role", Self::Role),
        ("encryption_key", Self::EncryptionKey),
        ("authentication_key", Self::AuthenticationKey),
        ("master_key", Self::MasterKey),
    ];

    /// The name used in case files.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, field)| *field == self)
            .map_or("?", |(name, _)| name)
    }

    /// Whether the field holds key bytes (the others are strings).
    pub fn is_key(self) -> bool {
        matches!(
            self,
            Self::EncryptionKey | Self::AuthenticationKey | Self::MasterKey
        )
    }
}

/// A value a step takes from its response.
#[derive(Debug, Clone, Serialize)]
pub struct Capture {
    pub name: String,
    pub path: FieldPath,
}

/// What a step's response must show: a default, and optional replacements for devices in a
/// given installation state (a dormant meter refuses what an active one performs).
#[derive(Debug, Clone, Serialize)]
pub struct Expectations {
    pub default: Expectation,
    pub active: Option<Expectation>,
    pub dormant: Option<Expectation>,
    /// Replacements for the devices of one DMC, by DMC id (e.g. a declared variation that
    /// makes the SRV unsupported there); they take precedence over the per-state ones.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dmc: BTreeMap<String, Expectation>,
}

impl Expectations {
    /// The expectation for a device in `state`.
    pub fn for_state(&self, state: meterlab_devices::InstallationState) -> &Expectation {
        use meterlab_devices::InstallationState;
        let specific = match state {
            InstallationState::Active => self.active.as_ref(),
            InstallationState::Dormant => self.dormant.as_ref(),
        };
        specific.unwrap_or(&self.default)
    }

    /// The expectation for a device of DMC `dmc_id` in `state`: the DMC's replacement when the
    /// case has one, else the one for the state.
    pub fn for_device(
        &self,
        dmc_id: &str,
        state: meterlab_devices::InstallationState,
    ) -> &Expectation {
        self.dmc
            .get(dmc_id)
            .unwrap_or_else(|| self.for_state(state))
    }

    /// Every expectation written for the step: the default, the per-state and per-DMC ones.
    pub fn all(&self) -> impl Iterator<Item = &Expectation> {
        std::iter::once(&self.default)
            .chain(self.active.as_ref())
            .chain(self.dormant.as_ref())
            .chain(self.dmc.values())
    }
}

/// The outcome a response must have, and checks on its fields.
#[derive(Debug, Clone, Serialize)]
pub struct Expectation {
    pub outcome: ExpectedOutcome,
    pub checks: Vec<Check>,
    /// Alert codes the device must have raised (as the adapter reports them, e.g. `"18"` for a
    /// firmware activation) by the time this step is judged, since the case began. The runner
    /// feeds them with [`crate::StepContext::record_alert`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

/// The outcome a step expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedOutcome {
    /// The SRV's result.
    Success,
    /// The device refused; with a code, that protocol result code.
    DeviceRejected { code: Option<u32> },
    /// The adapter says the DMC has no Equivalent Steps for the SRV.
    NotSupportedOnDmc,
}

impl ExpectedOutcome {
    /// The word used in case files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::DeviceRejected { .. } => "device_rejected",
            Self::NotSupportedOnDmc => "not_supported_on_dmc",
        }
    }
}

impl fmt::Display for ExpectedOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeviceRejected { code: Some(code) } => write!(f, "device_rejected (code {code})"),
            other => f.write_str(other.name()),
        }
    }
}

/// A comparison on one field of the result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub field: FieldPath,
    pub op: Op,
    pub value: Operand,
    /// For [`Op::Within`]: the largest accepted difference.
    pub tolerance: Option<i64>,
    /// The path goes through `[*]`: the comparison holds for every element, or (`contains`)
    /// for at least one.
    #[serde(skip)]
    pub many: bool,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `|actual - expected| <= tolerance`.
    Within,
    /// A list (or `[*]` path) has an element equal to the value.
    Contains,
    /// No element equals the value.
    NotContains,
}

impl Op {
    /// Operators as case files write them.
    pub const ALL: [(&'static str, Op); 9] = [
        ("==", Self::Eq),
        ("!=", Self::Ne),
        ("<", Self::Lt),
        ("<=", Self::Le),
        (">", Self::Gt),
        (">=", Self::Ge),
        ("within", Self::Within),
        ("contains", Self::Contains),
        ("not_contains", Self::NotContains),
    ];

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map_or("?", |(symbol, _)| symbol)
    }

    /// Whether it orders its operands (integers only).
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            Self::Lt | Self::Le | Self::Gt | Self::Ge | Self::Within
        )
    }
}
