//! Serving emulated devices over real transports: the object model bridged to `meterlab-dlms`,
//! per-connection association sessions, and the tokio listeners (TCP wrapper; HDLC on a PTY).

pub mod bridge;
pub mod session;
