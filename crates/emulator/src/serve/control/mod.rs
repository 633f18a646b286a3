//! Run-time control of a running emulator from outside the process: a line-delimited JSON
//! protocol over TCP. Each request is one JSON object on one line; each gets exactly one
//! response object on one line, in order.
//!
//! ```text
//! → {"command":"set_faults","scope":{"hub":2},"faults":{"drop":0.2,"latency_ms":150}}
//! ← {"ok":true,"touched":3}
//! → {"command":"clear_faults","scope":{"device":"hub-00002.esme"}}
//! ← {"ok":true,"touched":1}
//! → {"command":"raise_alert","device":"hub-00001.esme","kind":"tamper","after_s":30}
//! ← {"ok":true,"touched":1}
//! → {"command":"reboot","scope":"all"}
//! ← {"ok":true,"touched":6}
//! → {"command":"list"}
//! ← {"ok":true,"devices":[{"name":"hub-00001.hub","hub":"hub-00001","hub_number":1,...}]}
//! → {"command":"set_faults","scope":"all","faults":{"dorp":0.2}}
//! ← {"ok":false,"error":"unknown field `dorp`, expected one of `drop`, ... at line 1 column 52"}
//! ```
//!
//! Scopes: `"all"`, `{"hub":2}` (hub number) or `{"hub":"north-mixed-1"}` (hub id), `{"device":
//! "<hub>.<role>"}`, `{"link":2}` (a hub's serial line only). Fault fields: `drop`, `corrupt`
//! (fractions 0.0-1.0), `latency_ms`, `silent`, `refuse_associations`, `reboot_every_s` (0 turns
//! periodic reboots off), `serial_baud` (0 restores the configured rate). `clear_faults` sets
//! every fault of the scope to none, scenario faults included. Alert kinds: `tamper`,
//! `supply_interruption` (with `outage_s`, the device being silent meanwhile; the alert is raised
//! when the supply returns). A firmware-activated alert is raised by activating a transferred
//! image, as on a real meter.

mod client;
mod protocol;
mod server;

pub use client::{ControlClient, ControlError};
pub use protocol::{
    AlertName, DeviceState, FaultValueError, Faults, HubRef, MAX_REQUEST_LINE, Request, Response,
    Scope,
};
pub use server::{RequestError, execute, handle_line, serve_control, serve_control_stream};
