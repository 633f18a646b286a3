//! SMETS1 MT/SIT governance: domain events, projections and the exit rules, as pure functions.
//!
//! Must never depend on tokio, any I/O, or protobuf types.
#![forbid(unsafe_code)]
