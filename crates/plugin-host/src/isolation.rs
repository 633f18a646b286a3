//! Out-of-process isolation (`isolation = "process"`): the options, finding the worker
//! executable, and the per-plugin pool of workers that sessions run in.
//!
//! A worker is `meterlab-plugin-worker`: it loads one library with the in-process loader and
//! serves ABI calls over its stdin/stdout (see `worker_wire`). A crash, abort, stack overflow,
//! endless loop (per-call deadline) or memory growth past the worker's `RLIMIT_AS` ends the
//! sessions in that worker with [`Fault::Worker`]; the host and every other worker carry on, and
//! the next session starts a fresh worker.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use meterlab_plugin::pb::AdapterInfo;
use meterlab_plugin::prost::Message as _;

use crate::error::{Fault, LoadError, SessionError, WorkerFault};
use crate::plugin::Identity;
use crate::worker_process::Worker;
use crate::worker_wire::WORKER_PROTOCOL;
use crate::worker_wire::pb::{Close, Handle, Load, Open, worker_call, worker_reply};

/// The worker executable's file name.
pub const WORKER_EXE: &str = "meterlab-plugin-worker";
/// An environment variable naming the worker executable, used when the options name none.
pub const WORKER_ENV: &str = "METERLAB_PLUGIN_WORKER";

/// Loading (which includes starting the worker process) gets at least this long, whatever the
/// call deadline: a slow process start on a busy machine is not the plugin's fault.
const LOAD_DEADLINE_FLOOR: Duration = Duration::from_secs(10);

/// Where a plugin's code runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Isolation {
    /// In the host's process (the default): the fastest; a panic is contained, a crash is not.
    #[default]
    InProcess,
    /// In worker processes: a crash, abort, hang or runaway allocation ends only the sessions in
    /// that worker.
    Process,
}

impl Isolation {
    /// The configuration spelling: `"in-process"` or `"process"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::InProcess => "in-process",
            Isolation::Process => "process",
        }
    }
}

impl std::fmt::Display for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An isolation name that is neither `in-process` nor `process`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown isolation {0:?}: expected \"in-process\" or \"process\"")]
pub struct UnknownIsolation(pub String);

impl FromStr for Isolation {
    type Err = UnknownIsolation;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "in-process" => Ok(Isolation::InProcess),
            "process" => Ok(Isolation::Process),
            other => Err(UnknownIsolation(other.to_owned())),
        }
    }
}

/// How many sessions share a worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WorkerScope {
    /// One worker per plugin, shared by its sessions (cheaper; a crash ends every session in
    /// it, and the next session restarts it).
    #[default]
    PerPlugin,
    /// One worker per session (a crash ends only that session; a process start per session).
    PerSession,
}

/// Settings for `isolation = "process"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOptions {
    pub scope: WorkerScope,
    /// Longest a single plugin call (open, one event, close) may take before the worker is
    /// killed; loading gets at least 10 s. Wall-clock time: the worker is a real process.
    pub call_deadline: Duration,
    /// `RLIMIT_AS` (address space) for the worker, set before it loads the library; `None`
    /// leaves the limit inherited.
    pub memory_limit_bytes: Option<u64>,
    /// The worker executable; `None` looks in `$METERLAB_PLUGIN_WORKER`, beside the current
    /// executable, then in the directory above it (`target/<profile>/` from a test in `deps/`).
    pub worker: Option<PathBuf>,
    /// Arguments given to the worker before its own, e.g. `["plugin-worker"]` when the worker is
    /// `meterlab` itself.
    pub worker_args: Vec<String>,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            scope: WorkerScope::PerPlugin,
            call_deadline: Duration::from_secs(10),
            memory_limit_bytes: Some(1 << 30),
            worker: None,
            worker_args: Vec::new(),
        }
    }
}

/// How to load a plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    pub isolation: Isolation,
    /// Used when `isolation` is [`Isolation::Process`].
    pub process: ProcessOptions,
}

impl LoadOptions {
    /// Out-of-process loading with default [`ProcessOptions`].
    pub fn process() -> Self {
        LoadOptions {
            isolation: Isolation::Process,
            process: ProcessOptions::default(),
        }
    }
}

/// Finds the worker executable: `explicit` if given, else `$METERLAB_PLUGIN_WORKER`, else beside
/// the current executable, else one directory up. Returns every place looked at on failure.
pub fn locate_worker(explicit: Option<&Path>) -> Result<PathBuf, Vec<PathBuf>> {
    let named = explicit
        .map(Path::to_owned)
        .or_else(|| std::env::var_os(WORKER_ENV).map(PathBuf::from));
    let candidates: Vec<PathBuf> = match named {
        Some(path) => vec![path],
        None => {
            let file = format!("{WORKER_EXE}{}", std::env::consts::EXE_SUFFIX);
            let exe_dir = std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_owned));
            exe_dir
                .into_iter()
                .flat_map(|dir| {
                    let above = dir.parent().map(|up| up.join(&file));
                    std::iter::once(dir.join(&file)).chain(above)
                })
                .collect()
        }
    };
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or(candidates)
}

/// The workers of one out-of-process plugin.
#[derive(Debug)]
pub(crate) struct WorkerPool {
    worker_exe: PathBuf,
    library: PathBuf,
    sha256: [u8; 32],
    options: ProcessOptions,
    /// The shared worker ([`WorkerScope::PerPlugin`]); replaced when it has failed.
    shared: Mutex<Option<Arc<Worker>>>,
    started: AtomicU64,
    next_session: AtomicU64,
}

impl WorkerPool {
    /// Starts a first worker on `library`, which checks and describes it. `sha256` is the hash
    /// the host computed (and checked against pins); the worker must have loaded the same bytes.
    pub(crate) fn start(
        library: &Path,
        sha256: [u8; 32],
        options: &ProcessOptions,
    ) -> Result<(WorkerPool, Identity), LoadError> {
        let worker_exe = locate_worker(options.worker.as_deref()).map_err(|searched| {
            LoadError::WorkerNotFound {
                path: library.to_owned(),
                searched: searched
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        })?;
        let pool = WorkerPool {
            worker_exe,
            library: library.to_owned(),
            sha256,
            options: options.clone(),
            shared: Mutex::new(None),
            started: AtomicU64::new(0),
            next_session: AtomicU64::new(1),
        };
        let (worker, loaded) = pool.spawn_loaded()?;
        let info = AdapterInfo::decode(loaded.info.as_slice()).map_err(|error| {
            LoadError::WorkerFailed {
                path: library.to_owned(),
                fault: WorkerFault::Protocol {
                    detail: format!("undecodable AdapterInfo: {error}"),
                },
            }
        })?;
        let identity = Identity {
            path: library.to_owned(),
            sha256,
            id: loaded.plugin_id,
            version: loaded.plugin_version,
            abi_minor: loaded.abi_minor,
            info,
        };
        if pool.options.scope == WorkerScope::PerPlugin {
            *pool.shared.lock().unwrap_or_else(PoisonError::into_inner) = Some(worker);
        }
        Ok((pool, identity))
    }

    pub(crate) fn workers_started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Starts a worker and has it load the library; checks it loaded the expected bytes.
    fn spawn_loaded(&self) -> Result<(Arc<Worker>, crate::worker_wire::pb::Loaded), LoadError> {
        let path = || self.library.clone();
        let worker = Worker::spawn(&self.worker_exe, &self.options).map_err(|cause| {
            LoadError::WorkerSpawn {
                path: path(),
                worker: self.worker_exe.clone(),
                cause: cause.to_string(),
            }
        })?;
        self.started.fetch_add(1, Ordering::Relaxed);
        let call = worker_call::Call::Load(Load {
            path: self.library.to_string_lossy().into_owned(),
        });
        let load_deadline = self.options.call_deadline.max(LOAD_DEADLINE_FLOOR);
        let reply =
            worker
                .call_within(call, load_deadline)
                .map_err(|fault| LoadError::WorkerFailed {
                    path: path(),
                    fault,
                })?;
        let protocol_fault = |detail: String| LoadError::WorkerFailed {
            path: path(),
            fault: WorkerFault::Protocol { detail },
        };
        let loaded = match reply {
            worker_reply::Reply::Loaded(loaded) => loaded,
            worker_reply::Reply::LoadRefused(refused) => {
                return Err(LoadError::WorkerRefused {
                    path: path(),
                    reason: refused.reason,
                });
            }
            other => return Err(protocol_fault(format!("answered load with {other:?}"))),
        };
        if loaded.protocol != WORKER_PROTOCOL {
            return Err(protocol_fault(format!(
                "the worker {} speaks protocol {} but this host speaks {WORKER_PROTOCOL}: \
                 rebuild it with this meterlab",
                self.worker_exe.display(),
                loaded.protocol
            )));
        }
        if loaded.sha256 != self.sha256 {
            return Err(LoadError::WorkerRefused {
                path: path(),
                reason: format!(
                    "the worker loaded SHA-256 {} but the host checked {}: the file changed",
                    hex::encode(&loaded.sha256),
                    hex::encode(self.sha256)
                ),
            });
        }
        Ok((Arc::new(worker), loaded))
    }

    /// A worker for a new session: the shared one while it is healthy, else a fresh one.
    fn worker_for_session(&self, plugin: &str) -> Result<Arc<Worker>, SessionError> {
        let start = || {
            self.spawn_loaded()
                .map(|(worker, _)| worker)
                .map_err(|error| SessionError::WorkerStart {
                    plugin: plugin.to_owned(),
                    cause: error.to_string(),
                })
        };
        match self.options.scope {
            WorkerScope::PerSession => start(),
            WorkerScope::PerPlugin => {
                let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
                match shared.as_ref() {
                    Some(worker) if !worker.has_failed() => Ok(Arc::clone(worker)),
                    _ => {
                        if shared.is_some() {
                            tracing::info!(
                                plugin,
                                library = %self.library.display(),
                                "restarting the plugin worker after a failure"
                            );
                        }
                        let worker = start()?;
                        *shared = Some(Arc::clone(&worker));
                        Ok(worker)
                    }
                }
            }
        }
    }

    /// Opens a session in a worker: the session (closed on drop once open) and the ABI status
    /// and out buffer of the plugin's `open`.
    pub(crate) fn open(
        &self,
        plugin: &str,
        config: Vec<u8>,
    ) -> Result<(WorkerSession, i32, Vec<u8>), SessionError> {
        let worker = self.worker_for_session(plugin)?;
        let session_id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let call = worker_call::Call::Open(Open { session_id, config });
        let (status, output) =
            abi_result(&worker, call).map_err(|fault| SessionError::AdapterFault {
                plugin: plugin.to_owned(),
                fault,
            })?;
        let session = WorkerSession {
            worker,
            session_id,
            open: status == meterlab_plugin::abi::STATUS_OK,
        };
        Ok((session, status, output))
    }
}

/// Makes a call whose answer is an ABI status and out buffer.
fn abi_result(worker: &Worker, call: worker_call::Call) -> Result<(i32, Vec<u8>), Fault> {
    worker
        .call(call)
        .map_err(Fault::Worker)
        .and_then(reply_to_abi)
}

/// The ABI status and out buffer a reply carries, or the fault it means.
pub(crate) fn reply_to_abi(reply: worker_reply::Reply) -> Result<(i32, Vec<u8>), Fault> {
    match reply {
        worker_reply::Reply::Abi(result) => Ok((result.status, result.output)),
        // The worker is healthy but could not make the call (e.g. an unknown session).
        worker_reply::Reply::Error(error) => Err(Fault::Protocol {
            detail: error.detail,
        }),
        other => Err(Fault::Worker(WorkerFault::Protocol {
            detail: format!("answered an ABI call with {other:?}"),
        })),
    }
}

/// One adapter session inside a worker.
#[derive(Debug)]
pub(crate) struct WorkerSession {
    worker: Arc<Worker>,
    session_id: u64,
    /// Whether the plugin's `open` succeeded (then `close` is owed).
    open: bool,
}

impl WorkerSession {
    /// One `handle` call, blocking this thread until the worker answers or the deadline passes.
    pub(crate) fn handle(&self, event: Vec<u8>) -> Result<(i32, Vec<u8>), Fault> {
        let call = worker_call::Call::Handle(Handle {
            session_id: self.session_id,
            event,
        });
        abi_result(&self.worker, call)
    }

    /// [`Self::handle`] on tokio's blocking pool.
    pub(crate) async fn handle_on_blocking_pool(
        &self,
        event: Vec<u8>,
    ) -> Result<(i32, Vec<u8>), Fault> {
        let worker = Arc::clone(&self.worker);
        let call = worker_call::Call::Handle(Handle {
            session_id: self.session_id,
            event,
        });
        tokio::task::spawn_blocking(move || abi_result(&worker, call))
            .await
            .map_err(|error| Fault::Protocol {
                detail: format!("the call to the worker did not complete: {error}"),
            })?
    }
}

impl Drop for WorkerSession {
    fn drop(&mut self) {
        if self.open {
            self.worker.close_session(worker_call::Call::Close(Close {
                session_id: self.session_id,
            }));
        }
    }
}
