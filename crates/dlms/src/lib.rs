//! Sans-IO DLMS/COSEM (IEC 62056): HDLC, TCP wrapper, A-XDR, xDLMS APDUs, association, COSEM objects.
//!
//! Must never depend on tokio or do any I/O or read a clock: callers pass bytes and `now_ms`
//! (a monotonic millisecond count chosen by the caller).
#![forbid(unsafe_code)]

// Transport layer: bytes on the wire <-> whole APDUs.
pub mod crc;
pub mod hdlc;
pub mod wrapper;

// Application layer: APDUs, data, objects, security, association state machines.
pub mod apdu;
pub mod association;
pub mod axdr;
pub mod cosem;
pub mod obis;
pub mod security;
