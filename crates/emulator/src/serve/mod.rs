//! Serving emulated devices over real transports: the object model bridged to `meterlab-dlms`,
//! per-connection association sessions, and the tokio listeners (TCP wrapper; HDLC on a PTY;
//! IEC 62056-21 optical ports on PTYs).

pub mod alerts;
pub mod bridge;
pub mod control;
pub mod optical;
pub mod runtime;
pub mod serial;
pub mod session;
pub mod tcp;

pub use runtime::{DeviceIndex, Emulator, FaultScope, Incident, SimClock};
