//! Emulated SMETS1 comms hubs and meters that behave like real ones.
//!
//! Each hub has a management logical device and, behind it, an ESME and a GSME; each logical
//! device is a deterministic state machine over simulated time ([`LogicalDevice`]): a clock that
//! can be set and can drift, an import register advancing with a consumption profile, a
//! half-hourly load profile and daily read log with selective access, an event log, disconnect
//! control with the Blue Book state machine, firmware image transfer, security setup with key
//! transfer, and the SMETS1 installation states (active, dormant; mixed per hub). Its COSEM
//! object model is reached with [`LogicalDevice::get`], [`LogicalDevice::set`] and
//! [`LogicalDevice::action`], which take `now` and return `meterlab-dlms` [`Data`] or
//! Data-Access-Result codes. The COSEM vocabulary (data, OBIS, date-time, the class state
//! machines of disconnect control and image transfer, key wrap, selective access) is
//! `meterlab-dlms`'s; this crate adds the devices' behaviour. Scenarios (TOML, with `file:line` errors) describe hubs, DMCs, SMSOs, states, keys,
//! consumption and faults.
//!
//! Nothing in the model reads a clock or does I/O: time is passed in, so every behaviour is
//! reproducible in tests. Must never depend on plugin-host or server.
#![forbid(unsafe_code)]

pub mod capture;
pub mod clock;
pub mod consumption;
pub mod device;
mod error;
pub mod events;
pub mod faults;
pub mod firmware;
pub mod hub;
pub mod objects;
pub mod scenario;
pub mod security;
pub mod serve;
pub mod time;

pub use device::{DeviceConfig, LogicalDevice, MeteringConfig};
pub use error::{AccessError, EmulatorError};
pub use meterlab_dlms::{Data, Obis};
pub use time::SimTime;
