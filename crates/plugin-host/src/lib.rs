//! Loads adapter plugins (`.so`) with libloading, checks their ABI declaration before any call,
//! contains their faults, and drives their sessions over a link.
//!
//! - [`PluginHost`] loads plugins only from its configured directory, optionally only when
//!   their SHA-256 matches a pin, and refuses a wrong ABI major, a too-new ABI minor, a
//!   declaration of the wrong size, a plugin schema it does not know (its own, or an earlier one
//!   it only added to: `meterlab_plugin::COMPATIBLE_SCHEMA_HASHES`) or a missing entry symbol with a
//!   message naming the file and both versions. Libraries are never unloaded.
//! - [`Session`] feeds host events to an adapter and performs its actions over a [`LinkIo`],
//!   with timers on tokio's clock and an overall deadline per service request. A plugin panic, a
//!   non-zero status or undecodable output ends that session with
//!   [`SessionError::AdapterFault`]; other sessions carry on. [`Session::close_gracefully`] lets
//!   the adapter give back what the device holds (`CloseSession`) within a budget.
//!
//! ```ignore
//! let host = PluginHost::new(HostConfig { plugin_dir: "/opt/meterlab/plugins".into(), pins })?;
//! let plugin = host.load("libacme_dlms.so")?;           // checked, described, never unloaded
//! let link = StreamLink::new(TcpStream::connect(addr).await?);
//! let mut session = Session::open(&plugin, &session_config, link).await?;
//! let response = session.execute(&request, Duration::from_secs(60)).await;
//! // Err(e) => record ServiceError { kind: e.to_service_error() }; the session has ended.
//! ```
//!
//! Plugin calls are short and synchronous (adapters are sans-IO), so sessions make them inline
//! on the async executor.
//!
//! With [`Isolation::Process`] ([`PluginHost::load_with`]) the host never loads the library: a
//! worker executable (`meterlab-plugin-worker`, see [`serve_worker`]) loads it and serves the
//! same ABI calls over its stdin/stdout, one worker per plugin or per session. A segfault,
//! abort, stack overflow, call past its deadline or allocation past the worker's memory limit
//! ends that worker's sessions with [`Fault::Worker`] carrying the cause; the next session
//! starts a fresh worker, and the host and other sessions carry on. The callers' API
//! ([`Plugin`], [`Session`], [`RawSession`]) is the same for both.
//!
//! Must never depend on the server or the runner.

mod device_link;
mod error;
mod isolation;
mod link;
mod loader;
mod plugin;
mod session;
mod worker_process;
mod worker_serve;
mod worker_wire;

pub use device_link::{DeviceLink, merge_settings};
pub use error::{Fault, LoadError, SessionError, WorkerFault};
pub use isolation::{
    Isolation, LoadOptions, ProcessOptions, UnknownIsolation, WORKER_ENV, WORKER_EXE, WorkerScope,
    locate_worker,
};
pub use link::{LinkIo, StreamLink};
pub use loader::{HostConfig, PluginHost, inspect_file, inspect_file_with};
pub use plugin::{Plugin, RawSession, decode_output};
pub use session::{CloseOutcome, Session};
pub use worker_serve::serve_worker;
#[doc(hidden)]
pub use worker_wire::handle_replies_from_worker;
