//! A loaded, checked plugin and the safe wrappers around its exported functions.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use meterlab_plugin::abi::{
    self, CloseFn, DescribeFn, FreeBufFn, HandleFn, OpenFn, OwnedBuf, STATUS_OK,
    STATUS_OPEN_REFUSED, STATUS_PANICKED,
};
use meterlab_plugin::pb::{AdapterActions, AdapterInfo, HostEvent, ServiceRequest, SessionConfig};
use meterlab_plugin::prost::Message;

use crate::error::{Fault, LoadError, SessionError};
use crate::isolation::{Isolation, WorkerPool, WorkerSession};
use crate::loader::CheckedDeclaration;

/// The plugin's functions, checked non-null.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vtable {
    pub describe: DescribeFn,
    pub open: OpenFn,
    pub handle: HandleFn,
    pub free_buf: FreeBufFn,
    pub close: CloseFn,
}

/// Where a plugin's code runs.
#[derive(Debug)]
pub(crate) enum Backend {
    /// In this process, through the checked vtable.
    InProcess(Vtable),
    /// In worker processes that load the library (`isolation = "process"`).
    Process(WorkerPool),
}

/// A loaded plugin whose declaration passed every check. In-process, its library stays loaded
/// forever; out of process, its workers load it (and the host never does).
#[derive(Debug)]
pub struct Plugin {
    path: PathBuf,
    sha256: [u8; 32],
    id: String,
    version: String,
    abi_minor: u32,
    info: AdapterInfo,
    backend: Backend,
}

/// A plugin library's identity as checked by a loader, in this process or in a worker.
#[derive(Debug)]
pub(crate) struct Identity {
    pub path: PathBuf,
    pub sha256: [u8; 32],
    pub id: String,
    pub version: String,
    pub abi_minor: u32,
    pub info: AdapterInfo,
}

impl Plugin {
    pub(crate) fn from_checked(
        path: PathBuf,
        sha256: [u8; 32],
        checked: CheckedDeclaration,
    ) -> Result<Self, LoadError> {
        let mut plugin = Plugin {
            path,
            sha256,
            id: checked.id,
            version: checked.version,
            abi_minor: checked.abi_minor,
            info: AdapterInfo::default(),
            backend: Backend::InProcess(checked.vtable),
        };
        let info = plugin.describe().map_err(|fault| LoadError::Describe {
            path: plugin.path.clone(),
            fault,
        })?;
        if info.id != plugin.id || info.version != plugin.version {
            return Err(LoadError::IdentityMismatch {
                path: plugin.path.clone(),
                declared_id: plugin.id.clone(),
                declared_version: plugin.version.clone(),
                described_id: info.id,
                described_version: info.version,
            });
        }
        plugin.info = info;
        Ok(plugin)
    }

    /// A plugin whose worker (already checked and described) runs it out of process.
    pub(crate) fn from_worker(identity: Identity, pool: WorkerPool) -> Self {
        Plugin {
            path: identity.path,
            sha256: identity.sha256,
            id: identity.id,
            version: identity.version,
            abi_minor: identity.abi_minor,
            info: identity.info,
            backend: Backend::Process(pool),
        }
    }

    /// Whether the plugin runs in this process or in worker processes.
    pub fn isolation(&self) -> Isolation {
        match self.backend {
            Backend::InProcess(_) => Isolation::InProcess,
            Backend::Process(_) => Isolation::Process,
        }
    }

    /// Out of process: how many worker processes have been started for this plugin so far
    /// (the one that checked it at load time included). `None` in-process.
    pub fn workers_started(&self) -> Option<u64> {
        match &self.backend {
            Backend::InProcess(_) => None,
            Backend::Process(pool) => Some(pool.workers_started()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// SHA-256 of the library file as loaded.
    pub fn sha256(&self) -> [u8; 32] {
        self.sha256
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// `(major, minor)` of the ABI the plugin declares.
    pub fn abi_version(&self) -> (u32, u32) {
        (abi::ABI_MAJOR, self.abi_minor)
    }

    /// What the plugin said it supports when it was loaded.
    pub fn info(&self) -> &AdapterInfo {
        &self.info
    }

    /// Calls the plugin with an out buffer, copies the buffer and hands it back to the plugin.
    fn call_with_out(vtable: &Vtable, call: impl FnOnce(*mut OwnedBuf) -> i32) -> (i32, Vec<u8>) {
        Self::call_reading_out(vtable, call, |status, bytes| (status, bytes.to_vec()))
    }

    /// Calls the plugin with an out buffer, lets `read` look at the status and the bytes while
    /// the plugin still owns them (no copy), then hands the buffer back to the plugin.
    fn call_reading_out<R>(
        vtable: &Vtable,
        call: impl FnOnce(*mut OwnedBuf) -> i32,
        read: impl FnOnce(i32, &[u8]) -> R,
    ) -> R {
        let mut out = OwnedBuf::EMPTY;
        let status = call(&mut out);
        let result = if out.ptr.is_null() || out.len == 0 {
            read(status, &[])
        } else {
            // SAFETY: the plugin wrote a buffer of `len` readable bytes it owns until
            // `free_buf`, which is called only after `read` has returned (and `read` cannot keep
            // the borrow).
            read(status, unsafe {
                std::slice::from_raw_parts(out.ptr, out.len)
            })
        };
        if !out.ptr.is_null() {
            // SAFETY: the buffer came from this plugin and is freed exactly once.
            unsafe { (vtable.free_buf)(out) };
        }
        result
    }

    fn describe(&self) -> Result<AdapterInfo, Fault> {
        let Backend::InProcess(vtable) = &self.backend else {
            return Ok(self.info.clone());
        };
        // SAFETY: `out` points to a writable buffer slot, per the ABI.
        let (status, bytes) = Self::call_with_out(vtable, |out| unsafe { (vtable.describe)(out) });
        decode_output("AdapterInfo", status, &bytes)
    }

    /// Opens an adapter session (no link activity: see [`crate::Session`] for driving one).
    /// Out of process this starts or reuses a worker and waits for it (up to the call deadline).
    pub fn open_raw(self: &Arc<Self>, config: &SessionConfig) -> Result<RawSession, SessionError> {
        let input = config.encode_to_vec();
        let inner = match &self.backend {
            Backend::InProcess(_) => match self.open_encoded(&input) {
                Ok(handle) => RawInner::InProcess(handle),
                Err(OpenFailure::Abi { status, output }) => {
                    return Err(self.open_error(status, &output));
                }
                Err(OpenFailure::NullSession) => {
                    return Err(self.fault(Fault::Protocol {
                        detail: "open succeeded but returned a null session".to_owned(),
                    }));
                }
            },
            Backend::Process(pool) => {
                let (session, status, output) = pool.open(&self.id, input)?;
                if status != STATUS_OK {
                    return Err(self.open_error(status, &output));
                }
                RawInner::Process(session)
            }
        };
        Ok(RawSession {
            plugin: Arc::clone(self),
            inner,
            input: Vec::new(),
        })
    }

    /// [`Plugin::open_raw`] for an async caller: in-process inline, out of process on tokio's
    /// blocking pool (starting a worker and waiting for it must not stall the executor).
    pub async fn open_raw_async(
        self: &Arc<Self>,
        config: &SessionConfig,
    ) -> Result<RawSession, SessionError> {
        if let Backend::InProcess(_) = self.backend {
            return self.open_raw(config);
        }
        let plugin = Arc::clone(self);
        let config = config.clone();
        tokio::task::spawn_blocking(move || plugin.open_raw(&config))
            .await
            .map_err(|error| {
                self.fault(Fault::Protocol {
                    detail: format!("opening a session in a worker did not complete: {error}"),
                })
            })?
    }

    /// The error for an `open` that returned `status` with `output`.
    fn open_error(&self, status: i32, output: &[u8]) -> SessionError {
        if status == STATUS_OPEN_REFUSED {
            return SessionError::OpenRefused {
                plugin: self.id.clone(),
                reason: String::from_utf8_lossy(output).into_owned(),
            };
        }
        match check_status(status, output) {
            Err(fault) => self.fault(fault),
            Ok(()) => self.fault(Fault::Protocol {
                detail: "open succeeded without a session".to_owned(),
            }),
        }
    }

    /// Calls the in-process `open` with an encoded `SessionConfig`: the session handle, or the
    /// ABI status and out buffer. (A worker relays these verbatim.)
    pub(crate) fn open_encoded(&self, config: &[u8]) -> Result<*mut c_void, OpenFailure> {
        let Backend::InProcess(vtable) = &self.backend else {
            return Err(OpenFailure::Abi {
                status: abi::STATUS_BAD_INPUT,
                output: Vec::new(),
            });
        };
        let mut handle: *mut c_void = std::ptr::null_mut();
        let (status, output) = Self::call_with_out(vtable, |error_out| {
            // SAFETY: input is readable for its length; both out pointers are writable.
            unsafe { (vtable.open)(config.as_ptr(), config.len(), &mut handle, error_out) }
        });
        if status != STATUS_OK {
            return Err(OpenFailure::Abi { status, output });
        }
        if handle.is_null() {
            return Err(OpenFailure::NullSession);
        }
        Ok(handle)
    }

    /// Wraps an in-process session handle from [`Self::open_encoded`].
    pub(crate) fn raw_session(self: &Arc<Self>, handle: *mut c_void) -> RawSession {
        RawSession {
            plugin: Arc::clone(self),
            inner: RawInner::InProcess(handle),
            input: Vec::new(),
        }
    }

    pub(crate) fn fault(&self, fault: Fault) -> SessionError {
        SessionError::AdapterFault {
            plugin: self.id.clone(),
            fault,
        }
    }
}

/// Why an in-process `open` produced no session.
#[derive(Debug)]
pub(crate) enum OpenFailure {
    Abi { status: i32, output: Vec<u8> },
    NullSession,
}

/// What the host makes of one plugin call's status and output buffer: the decoded `M`
/// (`AdapterInfo` from `describe`, `AdapterActions` from `handle`), or the fault that ends the
/// session — a non-zero status, a panic message, or bytes that are not an `M` (`message` names
/// it in the fault). Public so the fuzz target can feed it what a hostile plugin could write.
pub fn decode_output<M: Message + Default>(
    message: &'static str,
    status: i32,
    bytes: &[u8],
) -> Result<M, Fault> {
    check_status(status, bytes)?;
    M::decode(bytes).map_err(|error| Fault::Undecodable {
        message,
        len: bytes.len(),
        detail: error.to_string(),
    })
}

/// [`decode_output`] into an existing message (cleared first), so that a caller decoding one
/// message per call keeps its allocations (an `AdapterActions`' list of actions).
fn merge_output<M: Message>(
    message: &'static str,
    status: i32,
    bytes: &[u8],
    into: &mut M,
) -> Result<(), Fault> {
    check_status(status, bytes)?;
    into.clear();
    into.merge(bytes).map_err(|error| {
        into.clear();
        Fault::Undecodable {
            message,
            len: bytes.len(),
            detail: error.to_string(),
        }
    })
}

/// `event.encode(buf)`. Encoding into a `Vec` cannot run out of room.
fn encode_event(event: &HostEvent, buf: &mut Vec<u8>) {
    buf.reserve(event.encoded_len());
    // A `Vec` grows as needed: the only encode error (no room) cannot happen.
    let _ = event.encode(buf);
}

/// The bytes `HostEvent::new(now_ms, Execute { request: Some(request.clone()) }).encode(buf)`
/// writes, without the clone: the caller keeps its request for its own records.
pub(crate) fn encode_execute(now_ms: u64, request: &ServiceRequest, buf: &mut Vec<u8>) {
    use meterlab_plugin::prost::encoding::{encoded_len_varint, message};
    // Field numbers of `meterlab.plugin.v1.HostEvent.execute` and `Execute.request`.
    const EXECUTE: u32 = 2;
    const REQUEST: u32 = 1;
    let request_len = request.encoded_len();
    // A present message field is always written, even when it encodes to nothing.
    let execute_len = 1 + encoded_len_varint(request_len as u64) + request_len;
    encode_event_head(now_ms, EXECUTE, execute_len, buf);
    message::encode(REQUEST, request, buf);
}

/// A `HostEvent` up to its `oneof event` member's body: `now_ms` (left out when 0, as proto3
/// does) and the member's key and length, with room reserved for the body.
fn encode_event_head(now_ms: u64, member: u32, member_len: usize, buf: &mut Vec<u8>) {
    use meterlab_plugin::prost::encoding::{WireType, encode_key, encode_varint};
    // Field number of `meterlab.plugin.v1.HostEvent.now_ms`.
    const NOW_MS: u32 = 1;
    buf.reserve(11 + 1 + 10 + member_len);
    if now_ms != 0 {
        encode_key(NOW_MS, WireType::Varint, buf);
        encode_varint(now_ms, buf);
    }
    encode_key(member, WireType::LengthDelimited, buf);
    encode_varint(member_len as u64, buf);
}

/// The bytes `HostEvent::new(now_ms, BytesReceived { data }).encode(buf)` writes, without
/// copying `data` into an owned `BytesReceived` first (one copy per receive saved).
pub(crate) fn encode_bytes_received(now_ms: u64, data: &[u8], buf: &mut Vec<u8>) {
    use meterlab_plugin::prost::encoding::{
        WireType, encode_key, encode_varint, encoded_len_varint,
    };
    // Field numbers of `meterlab.plugin.v1.HostEvent.bytes_received` and `BytesReceived.data`.
    const BYTES_RECEIVED: u32 = 3;
    const DATA: u32 = 1;
    let len = data.len() as u64;
    // proto3 leaves fields at their default out; a oneof member is always written.
    let inner_len = if data.is_empty() {
        0
    } else {
        1 + encoded_len_varint(len) + data.len()
    };
    encode_event_head(now_ms, BYTES_RECEIVED, inner_len, buf);
    if !data.is_empty() {
        encode_key(DATA, WireType::LengthDelimited, buf);
        encode_varint(len, buf);
        buf.extend_from_slice(data);
    }
}

fn check_status(status: i32, bytes: &[u8]) -> Result<(), Fault> {
    match status {
        STATUS_OK => Ok(()),
        STATUS_PANICKED => Err(Fault::Panicked {
            message: String::from_utf8_lossy(bytes).into_owned(),
        }),
        status => Err(Fault::Status {
            status,
            meaning: status_meaning(status),
        }),
    }
}

fn status_meaning(status: i32) -> &'static str {
    match status {
        abi::STATUS_BAD_INPUT => "the plugin could not decode its input",
        abi::STATUS_NULL_ARGUMENT => "the plugin saw a null argument",
        abi::STATUS_POISONED => "the session panicked earlier",
        STATUS_OPEN_REFUSED => "open refused outside open",
        _ => "unknown status",
    }
}

/// An open adapter session without any I/O: feed it events, get its actions.
/// Closed when dropped. Calls take `&mut self`, so they are never concurrent.
#[derive(Debug)]
pub struct RawSession {
    plugin: Arc<Plugin>,
    inner: RawInner,
    /// In-process: the encoded event, kept for the session's life (not allocated per call).
    input: Vec<u8>,
}

#[derive(Debug)]
enum RawInner {
    InProcess(*mut c_void),
    Process(WorkerSession),
}

// SAFETY: the ABI requires adapters to accept successive (never concurrent) calls from any
// thread; `&mut self` on every call rules out concurrency.
unsafe impl Send for RawSession {}

impl RawSession {
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// Feeds one event. A fault means the session must end. Out of process this blocks the
    /// calling thread until the worker answers (up to the call deadline); an async caller uses
    /// [`RawSession::handle_async`].
    pub fn handle(&mut self, event: &HostEvent) -> Result<AdapterActions, SessionError> {
        let mut actions = AdapterActions::default();
        self.handle_into(|buf| encode_event(event, buf), &mut actions)?;
        Ok(actions)
    }

    /// [`RawSession::handle`] of a `BytesReceived` event, encoded straight from `data` (no
    /// owned copy of the bytes), its actions decoded into `actions` (cleared first, so its
    /// allocation is reused from call to call).
    pub fn handle_received(
        &mut self,
        now_ms: u64,
        data: &[u8],
        actions: &mut AdapterActions,
    ) -> Result<(), SessionError> {
        self.handle_into(|buf| encode_bytes_received(now_ms, data, buf), actions)
    }

    /// [`RawSession::handle`] with the actions decoded into `actions` (cleared first).
    pub fn handle_event_into(
        &mut self,
        event: &HostEvent,
        actions: &mut AdapterActions,
    ) -> Result<(), SessionError> {
        self.handle_into(|buf| encode_event(event, buf), actions)
    }

    /// One `handle` call: `encode` writes the `HostEvent`, the actions are merged into the
    /// cleared `actions`.
    fn handle_into(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>),
        actions: &mut AdapterActions,
    ) -> Result<(), SessionError> {
        let (RawInner::InProcess(handle), Backend::InProcess(vtable)) =
            (&self.inner, &self.plugin.backend)
        else {
            let RawInner::Process(session) = &self.inner else {
                return Err(self.plugin.fault(Fault::Protocol {
                    detail: "an in-process session of an out-of-process plugin".to_owned(),
                }));
            };
            let mut input = Vec::new();
            encode(&mut input);
            let (status, bytes) = session
                .handle(input)
                .map_err(|fault| self.plugin.fault(fault))?;
            return merge_output("AdapterActions", status, &bytes, actions)
                .map_err(|fault| self.plugin.fault(fault));
        };
        // In process, per call: the event is encoded into the session's buffer and the actions
        // are decoded straight from the plugin's out buffer before it is handed back.
        let (handle, vtable) = (*handle, *vtable);
        self.input.clear();
        encode(&mut self.input);
        let input = &self.input;
        Plugin::call_reading_out(
            &vtable,
            |out| {
                // SAFETY: `handle` is open; input readable for its length; `out` writable.
                unsafe { (vtable.handle)(handle, input.as_ptr(), input.len(), out) }
            },
            |status, bytes| merge_output("AdapterActions", status, bytes, actions),
        )
        .map_err(|fault| self.plugin.fault(fault))
    }

    /// [`RawSession::handle`] for an async caller: in-process inline (plugin calls are short),
    /// out of process on tokio's blocking pool, so a worker that takes its time (up to the call
    /// deadline) never stalls the executor.
    pub async fn handle_async(
        &mut self,
        event: &HostEvent,
    ) -> Result<AdapterActions, SessionError> {
        let mut actions = AdapterActions::default();
        self.handle_async_into(|buf| encode_event(event, buf), &mut actions)
            .await?;
        Ok(actions)
    }

    /// [`RawSession::handle_async`] with the actions decoded into `actions` (cleared first).
    pub async fn handle_event_async_into(
        &mut self,
        event: &HostEvent,
        actions: &mut AdapterActions,
    ) -> Result<(), SessionError> {
        self.handle_async_into(|buf| encode_event(event, buf), actions)
            .await
    }

    /// `Execute { request }` for an async caller, encoded from the borrowed request.
    pub async fn handle_execute_async(
        &mut self,
        now_ms: u64,
        request: &ServiceRequest,
        actions: &mut AdapterActions,
    ) -> Result<(), SessionError> {
        self.handle_async_into(|buf| encode_execute(now_ms, request, buf), actions)
            .await
    }

    /// [`RawSession::handle_received`] for an async caller (see [`RawSession::handle_async`]).
    pub async fn handle_received_async(
        &mut self,
        now_ms: u64,
        data: &[u8],
        actions: &mut AdapterActions,
    ) -> Result<(), SessionError> {
        self.handle_async_into(|buf| encode_bytes_received(now_ms, data, buf), actions)
            .await
    }

    async fn handle_async_into(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>),
        actions: &mut AdapterActions,
    ) -> Result<(), SessionError> {
        let RawInner::Process(session) = &self.inner else {
            return self.handle_into(encode, actions);
        };
        let mut input = Vec::new();
        encode(&mut input);
        let (status, bytes) = session
            .handle_on_blocking_pool(input)
            .await
            .map_err(|fault| self.plugin.fault(fault))?;
        merge_output("AdapterActions", status, &bytes, actions)
            .map_err(|fault| self.plugin.fault(fault))
    }

    /// Calls the in-process `handle` with an encoded `HostEvent`: the ABI status and out buffer
    /// (a worker relays these verbatim).
    pub(crate) fn handle_encoded(&mut self, event: &[u8]) -> (i32, Vec<u8>) {
        let (RawInner::InProcess(handle), Backend::InProcess(vtable)) =
            (&self.inner, &self.plugin.backend)
        else {
            return (abi::STATUS_BAD_INPUT, Vec::new());
        };
        let handle = *handle;
        Plugin::call_with_out(vtable, |out| {
            // SAFETY: `handle` is open; input readable for its length; `out` writable.
            unsafe { (vtable.handle)(handle, event.as_ptr(), event.len(), out) }
        })
    }
}

impl Drop for RawSession {
    fn drop(&mut self) {
        // Out of process, the worker session closes itself when dropped.
        let (RawInner::InProcess(handle), Backend::InProcess(vtable)) =
            (&self.inner, &self.plugin.backend)
        else {
            return;
        };
        // SAFETY: the handle came from this plugin's `open` and is closed exactly once.
        let status = unsafe { (vtable.close)(*handle) };
        if status != STATUS_OK {
            tracing::warn!(
                plugin = self.plugin.id(),
                status,
                "plugin failed to close a session"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use meterlab_plugin::pb::{AdapterActions, BytesReceived, HostEvent, host_event};
    use meterlab_plugin::prost::Message as _;

    use super::{encode_bytes_received, encode_execute, merge_output};
    use crate::error::Fault;

    #[test]
    fn a_received_event_encodes_as_prost_encodes_the_owned_event() {
        let long: Vec<u8> = (0..=255u8).cycle().take(300).collect();
        for now_ms in [0, 1, 127, 128, 1_790_000_000_000, u64::MAX] {
            for data in [&[][..], &[0x7e][..], &long[..127], &long[..128], &long[..]] {
                let owned = HostEvent::new(
                    now_ms,
                    host_event::Event::BytesReceived(BytesReceived {
                        data: data.to_vec(),
                    }),
                );
                let mut buf = vec![0xaa];
                encode_bytes_received(now_ms, data, &mut buf);
                assert_eq!(buf[0], 0xaa, "appends to what the buffer holds");
                assert_eq!(
                    buf[1..],
                    owned.encode_to_vec(),
                    "now_ms {now_ms}, {} bytes",
                    data.len()
                );
                assert_eq!(HostEvent::decode(&buf[1..]).unwrap(), owned);
            }
        }
    }

    #[test]
    fn an_execute_event_encodes_as_prost_encodes_the_owned_event() {
        use meterlab_plugin::pb::{
            Execute, ReadFirmwareVersion, ServiceRequest, service_request::Body,
        };
        let requests = [
            ServiceRequest::default(),
            ServiceRequest {
                request_id: "read-1".to_owned(),
                body: Some(Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
            },
            ServiceRequest {
                request_id: "r".repeat(300),
                body: None,
            },
        ];
        for now_ms in [0, 1, 128, 1_790_000_000_000, u64::MAX] {
            for request in &requests {
                let owned = HostEvent::new(
                    now_ms,
                    host_event::Event::Execute(Execute {
                        request: Some(request.clone()),
                    }),
                );
                let mut buf = vec![0xaa];
                encode_execute(now_ms, request, &mut buf);
                assert_eq!(buf[0], 0xaa, "appends to what the buffer holds");
                assert_eq!(buf[1..], owned.encode_to_vec(), "now_ms {now_ms}");
                assert_eq!(HostEvent::decode(&buf[1..]).unwrap(), owned);
            }
        }
    }

    #[test]
    fn merging_actions_replaces_what_the_buffer_held_and_names_bad_bytes() {
        let mut actions = AdapterActions::default();
        let first = AdapterActions {
            actions: vec![Default::default(), Default::default()],
        };
        merge_output("AdapterActions", 0, &first.encode_to_vec(), &mut actions).unwrap();
        assert_eq!(actions, first);
        let second = AdapterActions {
            actions: vec![Default::default()],
        };
        merge_output("AdapterActions", 0, &second.encode_to_vec(), &mut actions).unwrap();
        assert_eq!(actions, second, "the earlier call's actions are gone");
        let error =
            merge_output("AdapterActions", 0, &[0x0a, 0x05, 0x01], &mut actions).unwrap_err();
        assert!(
            matches!(
                error,
                Fault::Undecodable {
                    message: "AdapterActions",
                    len: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(actions.actions.is_empty(), "nothing half-decoded is left");
    }
}
