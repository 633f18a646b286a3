//! The adapter plugin contract: the C ABI declaration and vtable ([`abi`]), the safe sans-IO
//! [`Adapter`] trait, the [`export_adapter!`] macro, and the plugin protobuf messages ([`pb`]:
//! session configuration, host events, adapter actions and the SRV vocabulary).
//!
//! Must never depend on tokio or tonic: a plugin is a `cdylib` and an async runtime does not
//! cross a dynamic-library boundary.
//!
//! # Writing a plugin
//!
//! A plugin is a `cdylib` crate that implements [`Adapter`] and calls
//! `meterlab_plugin::export_adapter!(MyAdapter)` once. It writes no `unsafe` code: the macro
//! emits the one exported symbol, [`abi::ENTRY_SYMBOL`], and every export it generates catches
//! panics, so a panicking adapter becomes an "adapter fault" for its session, never a crash of the
//! host. Build plugins with `panic = "unwind"` (the default); with `panic = "abort"` a panic ends
//! the whole host process.
//!
//! # Threading and I/O contract
//!
//! - Calls on one session (`handle`, then `close`) are never concurrent. Successive calls may come
//!   from different host threads, so adapters are `Send`. Different sessions of the same plugin
//!   may run concurrently on different threads; they share nothing unless the plugin makes them.
//! - An adapter does no I/O of its own: no threads, no clocks, no sleeping, no blocking I/O, no
//!   sockets or files. Time comes only from `HostEvent::now_ms`; waiting is a `SetTimer` action;
//!   bytes go out through `Transmit` and arrive as `BytesReceived`.
//! - `handle` must return promptly: the host calls it on its async executor.
//!
//! # Memory contract
//!
//! Everything crossing the boundary is protobuf bytes. The host passes borrowed input buffers
//! (valid only for the call); the plugin returns [`abi::OwnedBuf`]s that the host copies and
//! hands back through `free_buf`. The host never unloads a plugin library.

pub mod abi;
mod adapter;
mod error;
pub mod pb;

#[doc(hidden)]
pub mod export;

pub use adapter::Adapter;
pub use error::OpenError;
pub use prost;

include!(concat!(env!("OUT_DIR"), "/schema_hash.rs"));

#[doc(hidden)]
pub use export as __private;
