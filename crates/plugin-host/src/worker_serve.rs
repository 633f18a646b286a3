//! The worker side of `isolation = "process"`: serves calls from the host on a byte stream,
//! making each through the in-process loader and relaying the ABI's status and out buffer
//! verbatim. `meterlab-plugin-worker` is a thin `main` around [`serve_worker`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use meterlab_plugin::abi::STATUS_OK;
use meterlab_plugin::prost::Message as _;

use crate::loader::inspect_file;
use crate::plugin::{OpenFailure, Plugin, RawSession};
use crate::worker_wire::pb::{
    AbiResult, LoadRefused, Loaded, WorkerCall, WorkerError, WorkerReply, worker_call, worker_reply,
};
use crate::worker_wire::{WORKER_PROTOCOL, read_frame, write_frame};

/// Serves host calls read from `input`, one reply each on `output`, until `input` ends.
///
/// Only an I/O failure on the streams ends it early; a bad call gets a `WorkerError` reply and
/// the worker carries on. The plugin's own crashes end the process, which is the point.
pub fn serve_worker(mut input: impl Read, mut output: impl Write) -> io::Result<()> {
    let mut worker = WorkerState::default();
    while let Some(frame) = read_frame(&mut input)? {
        let reply = match WorkerCall::decode(frame.as_slice()) {
            Ok(WorkerCall { call: Some(call) }) => worker.serve(call),
            Ok(WorkerCall { call: None }) => error_reply("a call without a body".to_owned()),
            Err(error) => error_reply(format!("undecodable call: {error}")),
        };
        write_frame(&mut output, &reply.encode_to_vec())?;
    }
    Ok(())
}

#[derive(Default)]
struct WorkerState {
    plugin: Option<Arc<Plugin>>,
    sessions: HashMap<u64, RawSession>,
}

fn error_reply(detail: String) -> WorkerReply {
    WorkerReply {
        reply: Some(worker_reply::Reply::Error(WorkerError { detail })),
    }
}

fn abi_reply(status: i32, output: Vec<u8>) -> WorkerReply {
    WorkerReply {
        reply: Some(worker_reply::Reply::Abi(AbiResult { status, output })),
    }
}

impl WorkerState {
    fn serve(&mut self, call: worker_call::Call) -> WorkerReply {
        match call {
            worker_call::Call::Load(load) => self.load(Path::new(&load.path)),
            worker_call::Call::Open(open) => {
                let Some(plugin) = &self.plugin else {
                    return error_reply("open before load".to_owned());
                };
                if self.sessions.contains_key(&open.session_id) {
                    return error_reply(format!("session {} is already open", open.session_id));
                }
                match plugin.open_encoded(&open.config) {
                    Ok(handle) => {
                        let session = plugin.raw_session(handle);
                        self.sessions.insert(open.session_id, session);
                        abi_reply(STATUS_OK, Vec::new())
                    }
                    Err(OpenFailure::Abi { status, output }) => abi_reply(status, output),
                    Err(OpenFailure::NullSession) => {
                        error_reply("open succeeded but returned a null session".to_owned())
                    }
                }
            }
            worker_call::Call::Handle(handle) => match self.sessions.get_mut(&handle.session_id) {
                Some(session) => {
                    let (status, output) = session.handle_encoded(&handle.event);
                    abi_reply(status, output)
                }
                None => error_reply(format!("no open session {}", handle.session_id)),
            },
            worker_call::Call::Close(close) => match self.sessions.remove(&close.session_id) {
                // Dropping the session calls the plugin's `close`.
                Some(session) => {
                    drop(session);
                    abi_reply(STATUS_OK, Vec::new())
                }
                None => error_reply(format!("no open session {}", close.session_id)),
            },
        }
    }

    fn load(&mut self, path: &Path) -> WorkerReply {
        if self.plugin.is_some() {
            return error_reply("a worker loads one plugin only".to_owned());
        }
        match inspect_file(path) {
            Ok(plugin) => {
                let loaded = Loaded {
                    protocol: WORKER_PROTOCOL,
                    plugin_id: plugin.id().to_owned(),
                    plugin_version: plugin.version().to_owned(),
                    abi_minor: plugin.abi_version().1,
                    sha256: plugin.sha256().to_vec(),
                    info: plugin.info().encode_to_vec(),
                };
                self.plugin = Some(Arc::new(plugin));
                WorkerReply {
                    reply: Some(worker_reply::Reply::Loaded(loaded)),
                }
            }
            Err(error) => WorkerReply {
                reply: Some(worker_reply::Reply::LoadRefused(LoadRefused {
                    reason: error.to_string(),
                })),
            },
        }
    }
}
