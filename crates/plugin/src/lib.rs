//! The adapter plugin contract: C ABI declaration and vtable, the safe sans-IO `Adapter` trait,
//! `export_adapter!`, and the plugin protobuf messages (SRV vocabulary).
//!
//! Must never depend on tokio or tonic.
