//! Serial (tokio-serial) and TCP links to meters and comms hubs, with timestamped traffic capture.
//!
//! Must never depend on plugins.
#![forbid(unsafe_code)]
