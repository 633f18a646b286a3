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

/// [`SCHEMA_HASH`]es of earlier revisions of `meterlab.plugin.v1` whose plugins a host built on
/// this one still loads. Each later revision only added messages and `oneof` variants, which a
/// plugin built on an earlier one decodes as unknown (an event with no variant, which it
/// answers with nothing) and never sends.
///
/// - the schema before `CloseSession` / `SessionClosed` (a host's graceful close of such a
///   plugin's session ends at once with `NotAnswered`);
/// - the schema before `FirmwareActivated.scheduled_at_ms` and `NotSupportedOnDmc.reason`
///   (such a plugin never schedules an activation, and gives no reason for a refusal).
pub const COMPATIBLE_SCHEMA_HASHES: [[u8; 32]; 2] = [
    [
        0x08, 0x7e, 0x7e, 0xc4, 0xf2, 0xd3, 0x0b, 0xc3, 0x96, 0xb9, 0x9c, 0xcc, 0x19, 0xa4, 0x9b,
        0x48, 0x28, 0xd8, 0x64, 0x10, 0xa1, 0xd0, 0x9c, 0x1a, 0x83, 0xd7, 0x68, 0x14, 0x20, 0x01,
        0x7e, 0xa6,
    ],
    [
        0x4a, 0xe1, 0xd6, 0x4b, 0x29, 0x99, 0x65, 0x02, 0x5e, 0xff, 0x4b, 0x41, 0xb3, 0xce, 0x93,
        0xf9, 0x8e, 0x37, 0x4f, 0x5f, 0x00, 0xba, 0x6d, 0xad, 0xa6, 0xd6, 0xf6, 0x48, 0xc0, 0x94,
        0xca, 0x5d,
    ],
];

/// Whether a host built on this schema loads a plugin declaring `hash`: this schema, or an
/// earlier one it only added to ([`COMPATIBLE_SCHEMA_HASHES`]).
pub fn schema_supported(hash: &[u8; 32]) -> bool {
    *hash == SCHEMA_HASH || COMPATIBLE_SCHEMA_HASHES.contains(hash)
}

#[doc(hidden)]
pub use export as __private;
