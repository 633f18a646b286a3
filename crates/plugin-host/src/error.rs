//! Why a plugin was refused and why a session ended.

use std::path::PathBuf;

use meterlab_plugin::pb::{AdapterFault, LinkFailure, Timeout, service_error};

/// A plugin library was refused. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("plugin {path} is outside the plugin directory {dir}")]
    OutsideDirectory { path: PathBuf, dir: PathBuf },
    #[error("plugin {path} has SHA-256 {actual} but its pin is {pinned}")]
    PinMismatch {
        path: PathBuf,
        pinned: String,
        actual: String,
    },
    #[error("cannot load plugin {path}: {cause}")]
    Library { path: PathBuf, cause: String },
    #[error("{path} is not a meterlab plugin: symbol `{symbol}` not found ({cause})")]
    MissingSymbol {
        path: PathBuf,
        symbol: &'static str,
        cause: String,
    },
    #[error(
        "plugin {path} speaks ABI {plugin_major}.{plugin_minor} but this host speaks ABI \
         {host_major}.{host_minor}: rebuild the plugin against meterlab-plugin {host_major}.x"
    )]
    AbiMajor {
        path: PathBuf,
        plugin_major: u32,
        plugin_minor: u32,
        host_major: u32,
        host_minor: u32,
    },
    #[error(
        "plugin {path} needs ABI {major}.{plugin_minor} but this host only knows up to \
         {major}.{host_minor}: upgrade meterlab"
    )]
    AbiMinorTooNew {
        path: PathBuf,
        major: u32,
        plugin_minor: u32,
        host_minor: u32,
    },
    #[error(
        "plugin {path} declares ABI {major}.{minor} with a {plugin_size}-byte declaration, \
         but ABI {major}.{minor} declarations are {expected_size} bytes"
    )]
    StructSize {
        path: PathBuf,
        major: u32,
        minor: u32,
        plugin_size: u32,
        expected_size: usize,
    },
    #[error(
        "plugin {path} was built against plugin schema {plugin_hash} but this host uses schema \
         {host_hash}: rebuild the plugin against this meterlab-plugin"
    )]
    SchemaHash {
        path: PathBuf,
        plugin_hash: String,
        host_hash: String,
    },
    #[error("plugin {path} has an invalid declaration: {reason}")]
    InvalidDeclaration { path: PathBuf, reason: String },
    #[error("no plugin worker executable for {path}: looked for {searched}")]
    WorkerNotFound { path: PathBuf, searched: String },
    #[error("cannot start the plugin worker {worker} for {path}: {cause}")]
    WorkerSpawn {
        path: PathBuf,
        worker: PathBuf,
        cause: String,
    },
    #[error("the plugin worker refused {path}: {reason}")]
    WorkerRefused { path: PathBuf, reason: String },
    #[error("the plugin worker failed while loading {path}: {fault}")]
    WorkerFailed { path: PathBuf, fault: WorkerFault },
    #[error("plugin {path} failed to describe itself: {fault}")]
    Describe { path: PathBuf, fault: Fault },
    #[error(
        "plugin {path} declares {declared_id} {declared_version} but describes itself as \
         {described_id} {described_version}"
    )]
    IdentityMismatch {
        path: PathBuf,
        declared_id: String,
        declared_version: String,
        described_id: String,
        described_version: String,
    },
}

/// `error` and its sources, one after another: libloading keeps the loader's message in a
/// source, and a plugin refusal must show it.
pub(crate) fn with_sources(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What a misbehaving plugin did. Always an infrastructure error, never a device failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    #[error("plugin panicked: {message}")]
    Panicked { message: String },
    #[error("plugin returned status {status} ({meaning})")]
    Status { status: i32, meaning: &'static str },
    #[error("plugin returned an undecodable {message} ({len} bytes): {detail}")]
    Undecodable {
        message: &'static str,
        len: usize,
        detail: String,
    },
    #[error("plugin broke the session protocol: {detail}")]
    Protocol { detail: String },
    #[error("plugin worker process: {0}")]
    Worker(WorkerFault),
}

/// How an out-of-process plugin's worker failed (`isolation = "process"`). The worker is gone
/// (killed when it had not died by itself); the next session starts a new one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerFault {
    #[error("killed by signal {signal} ({name}){}", stderr_suffix(stderr))]
    Signalled {
        signal: i32,
        name: &'static str,
        /// The end of what the worker wrote to stderr (the plugin's last words), if anything.
        stderr: String,
    },
    #[error("stack overflow (killed by signal {signal} ({name}))")]
    StackOverflow { signal: i32, name: &'static str },
    #[error("exceeded its memory limit of {limit_bytes} bytes ({detail})")]
    MemoryLimit { limit_bytes: u64, detail: String },
    #[error("a call did not return within its {deadline_ms} ms deadline; the worker was killed")]
    CallDeadline { deadline_ms: u64 },
    #[error("exited with status {code}{}", stderr_suffix(stderr))]
    Exited { code: i32, stderr: String },
    #[error("broke the worker protocol: {detail}")]
    Protocol { detail: String },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; stderr: {stderr}")
    }
}

/// A session could not start, or could not finish a service request.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("adapter fault in plugin {plugin}: {fault}")]
    AdapterFault { plugin: String, fault: Fault },
    #[error("plugin {plugin} refused the session: {reason}")]
    OpenRefused { plugin: String, reason: String },
    #[error("service request {request_id} exceeded its {deadline_ms} ms deadline")]
    DeadlineExceeded {
        request_id: String,
        deadline_ms: u64,
    },
    #[error("link closed: {reason}")]
    LinkClosed { reason: String },
    #[error("link failed to {operation}: {cause}")]
    Link {
        operation: &'static str,
        cause: std::io::Error,
    },
    #[error("the session has ended")]
    Ended,
    #[error("cannot start a worker for plugin {plugin}: {cause}")]
    WorkerStart { plugin: String, cause: String },
}

impl SessionError {
    /// The typed service error a caller records for a request that ended with this error.
    pub fn to_service_error(&self) -> service_error::Kind {
        match self {
            SessionError::DeadlineExceeded { deadline_ms, .. } => {
                service_error::Kind::Timeout(Timeout {
                    elapsed_ms: *deadline_ms,
                    waiting_for: "the adapter to complete the request".to_owned(),
                })
            }
            SessionError::LinkClosed { .. } | SessionError::Link { .. } => {
                service_error::Kind::LinkFailure(LinkFailure {
                    detail: self.to_string(),
                })
            }
            SessionError::AdapterFault { .. }
            | SessionError::OpenRefused { .. }
            | SessionError::WorkerStart { .. }
            | SessionError::Ended => service_error::Kind::AdapterFault(AdapterFault {
                detail: self.to_string(),
            }),
        }
    }
}
