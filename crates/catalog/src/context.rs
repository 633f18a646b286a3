//! The context a case's steps run in: the device, its installation state, the reference clock
//! (supplied by the caller: the catalogue never reads a clock) and the values captured so far.

use std::collections::BTreeMap;

use meterlab_devices::{Device, InstallationState};

use crate::error::ResolveError;
use crate::model::{DeviceField, Operand};
use crate::value::Value;

/// State shared by the steps of one case attempt on one device.
#[derive(Debug, Clone)]
pub struct StepContext {
    device: Device,
    state: InstallationState,
    now_ms: i64,
    captures: BTreeMap<String, Value>,
    alerts: Vec<String>,
}

impl StepContext {
    /// A context for `device`, whose installation state is taken from its record, with the
    /// reference clock at `now_utc_ms` (UTC milliseconds since the Unix epoch).
    pub fn new(device: Device, now_utc_ms: i64) -> Self {
        let state = device.state;
        Self {
            device,
            state,
            now_ms: now_utc_ms,
            captures: BTreeMap::new(),
            alerts: Vec::new(),
        }
    }

    /// Moves the reference clock; call it before building each step's request. Judging uses the
    /// same value, so `within` checks compare against the time the request was made.
    pub fn set_now_ms(&mut self, now_utc_ms: i64) {
        self.now_ms = now_utc_ms;
    }

    /// The reference clock.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Overrides the installation state used to choose expectations.
    pub fn set_installation_state(&mut self, state: InstallationState) {
        self.state = state;
    }

    /// The installation state expectations are chosen by.
    pub fn installation_state(&self) -> InstallationState {
        self.state
    }

    /// The device record.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Values captured by earlier steps.
    pub fn captures(&self) -> &BTreeMap<String, Value> {
        &self.captures
    }

    /// Records an alert the device raised while the case runs (the adapter's `Alert.code`);
    /// steps expecting `alerts` are judged against these.
    pub fn record_alert(&mut self, code: impl Into<String>) {
        self.alerts.push(code.into());
    }

    /// Alert codes recorded so far, in arrival order.
    pub fn alerts(&self) -> &[String] {
        &self.alerts
    }

    pub(crate) fn capture(&mut self, name: String, value: Value) {
        self.captures.insert(name, value);
    }

    /// The device's key-holding client: the one with a master key (for key transfer).
    fn key_client(&self) -> Option<&meterlab_devices::ClientAccess> {
        self.device
            .clients
            .iter()
            .find(|client| client.master_key.is_some())
    }

    /// The master key new keys are wrapped under.
    pub(crate) fn master_key(&self) -> Option<[u8; 16]> {
        self.key_client()
            .and_then(|client| client.master_key)
            .map(|key| key.0)
    }

    /// The value `operand` stands for now, or why it has none.
    pub fn resolve(&self, operand: &Operand) -> Result<Value, ResolveError> {
        match operand {
            Operand::Literal(value) => Ok(value.clone()),
            Operand::Now { offset_ms } => {
                Ok(Value::Int(i128::from(self.now_ms) + i128::from(*offset_ms)))
            }
            Operand::Capture(name) => self
                .captures
                .get(name)
                .cloned()
                .ok_or_else(|| ResolveError::CaptureMissing { name: name.clone() }),
            Operand::Device(field) => self.device_field(*field),
        }
    }

    fn device_field(&self, field: DeviceField) -> Result<Value, ResolveError> {
        let device = &self.device;
        let text = |value: &str| Ok(Value::Str(value.to_owned()));
        let missing = |what: &'static str| {
            Err(ResolveError::DeviceFieldMissing {
                device: device.name.clone(),
                what,
            })
        };
        let key =
            |pick: fn(&meterlab_devices::ClientAccess) -> Option<meterlab_devices::Key128>,
             what: &'static str| {
                match self.key_client().and_then(pick) {
                    Some(key) => Ok(Value::Bytes(key.0.to_vec())),
                    None => missing(what),
                }
            };
        match field {
            DeviceField::Name => text(&device.name),
            DeviceField::Hub => text(&device.hub),
            DeviceField::Dmc => text(&device.dmc),
            DeviceField::Smso => text(&device.smso),
            DeviceField::Model => text(&device.model),
            DeviceField::Firmware => text(&device.firmware),
            DeviceField::Mpxn => match &device.mpxn {
                Some(mpxn) => text(mpxn),
                None => missing("MPxN"),
            },
            DeviceField::State => text(device.state.as_str()),
            DeviceField::Role => text(device.role.as_str()),
            DeviceField::EncryptionKey => key(|client| client.encryption_key, "encryption key"),
            DeviceField::AuthenticationKey => {
                key(|client| client.authentication_key, "authentication key")
            }
            DeviceField::MasterKey => key(|client| client.master_key, "master key"),
        }
    }
}
