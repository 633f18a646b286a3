//! Sans-IO DLMS/COSEM (IEC 62056): HDLC, TCP wrapper, A-XDR, xDLMS APDUs, association, COSEM objects.
//!
//! Must never depend on tokio or do any I/O or read a clock: callers pass bytes and `now`.
#![forbid(unsafe_code)]
