//! Generated protobuf/tonic types for the `meterlab.v1` gRPC API.
//!
//! Owns: the edge types only. Must never depend on any other meterlab crate.
