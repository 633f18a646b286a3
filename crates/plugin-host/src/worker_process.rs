//! One worker process: spawning it, one call at a time with a deadline, and turning its death
//! into a typed [`WorkerFault`] (signal and name, stack overflow, memory limit, exit status).

use std::io::{self, Read as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use meterlab_plugin::prost::Message as _;

use crate::error::WorkerFault;
use crate::isolation::ProcessOptions;
use crate::worker_wire::pb::{WorkerCall, WorkerReply, worker_call, worker_reply};
use crate::worker_wire::{read_frame, write_frame};

/// How much of the worker's stderr is kept for the fault report.
const STDERR_TAIL: usize = 2048;
/// How long a worker whose pipe closed gets to finish dying before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A running worker. Calls are serialised; after a failure every call returns that failure.
#[derive(Debug)]
pub(crate) struct Worker {
    pid: u32,
    deadline: Duration,
    memory_limit: Option<u64>,
    failed: AtomicBool,
    io: Mutex<WorkerIo>,
    /// Sessions dropped while a call was in flight; closed before the next call.
    pending_closes: Mutex<Vec<worker_call::Call>>,
}

#[derive(Debug)]
struct WorkerIo {
    child: Child,
    stdin: Option<ChildStdin>,
    replies: Receiver<Vec<u8>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_done: Receiver<()>,
    failure: Option<WorkerFault>,
}

impl Worker {
    pub(crate) fn spawn(exe: &Path, options: &ProcessOptions) -> io::Result<Worker> {
        let mut command = Command::new(exe);
        command.args(&options.worker_args);
        if let Some(limit) = options.memory_limit_bytes {
            command.arg("--memory-limit").arg(limit.to_string());
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let pid = child.id();
        let missing = || io::Error::other("the worker's pipes were not set up");
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let mut stdout = child.stdout.take().ok_or_else(missing)?;
        let mut stderr = child.stderr.take().ok_or_else(missing)?;

        let (reply_tx, replies) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("worker-{pid}-out"))
            .spawn(move || {
                // Ends at EOF or a broken frame; the dropped sender tells the caller.
                while let Ok(Some(frame)) = read_frame(&mut stdout) {
                    if reply_tx.send(frame).is_err() {
                        break;
                    }
                }
            })?;

        let tail = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, stderr_done) = mpsc::channel();
        let thread_tail = Arc::clone(&tail);
        std::thread::Builder::new()
            .name(format!("worker-{pid}-err"))
            .spawn(move || {
                let mut chunk = [0u8; 1024];
                while let Ok(read) = stderr.read(&mut chunk) {
                    if read == 0 {
                        break;
                    }
                    let text = String::from_utf8_lossy(&chunk[..read]);
                    for line in text.lines().filter(|line| !line.trim().is_empty()) {
                        tracing::warn!(worker_pid = pid, "plugin worker: {line}");
                    }
                    let mut tail = thread_tail.lock().unwrap_or_else(PoisonError::into_inner);
                    tail.extend_from_slice(&chunk[..read]);
                    let excess = tail.len().saturating_sub(STDERR_TAIL);
                    tail.drain(..excess);
                }
                let _ = done_tx.send(());
            })?;
        tracing::debug!(worker_pid = pid, exe = %exe.display(), "plugin worker started");
        Ok(Worker {
            pid,
            deadline: options.call_deadline,
            memory_limit: options.memory_limit_bytes,
            failed: AtomicBool::new(false),
            io: Mutex::new(WorkerIo {
                child,
                stdin: Some(stdin),
                replies,
                stderr: tail,
                stderr_done,
                failure: None,
            }),
            pending_closes: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Makes one call and waits for its reply, at most the call deadline.
    pub(crate) fn call(&self, call: worker_call::Call) -> Result<worker_reply::Reply, WorkerFault> {
        self.call_within(call, self.deadline)
    }

    /// [`Worker::call`] with its own deadline (loading, which includes starting the process).
    pub(crate) fn call_within(
        &self,
        call: worker_call::Call,
        deadline: Duration,
    ) -> Result<worker_reply::Reply, WorkerFault> {
        let mut io = self.io.lock().unwrap_or_else(PoisonError::into_inner);
        let pending = std::mem::take(
            &mut *self
                .pending_closes
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for close in pending {
            self.call_locked(&mut io, close, self.deadline)?;
        }
        self.call_locked(&mut io, call, deadline)
    }

    /// Closes a session: now if no call is in flight, else before the next call. A failed
    /// worker has no sessions left to close.
    pub(crate) fn close_session(&self, close: worker_call::Call) {
        if self.has_failed() {
            return;
        }
        match self.io.try_lock() {
            Ok(mut io) => {
                if let Err(fault) = self.call_locked(&mut io, close, self.deadline) {
                    tracing::warn!(worker_pid = self.pid, %fault, "closing a worker session failed");
                }
            }
            Err(_) => self
                .pending_closes
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(close),
        }
    }

    fn call_locked(
        &self,
        io: &mut WorkerIo,
        call: worker_call::Call,
        deadline: Duration,
    ) -> Result<worker_reply::Reply, WorkerFault> {
        if let Some(failure) = &io.failure {
            return Err(failure.clone());
        }
        let outcome = self.exchange(io, call, deadline);
        if let Err(fault) = &outcome {
            tracing::warn!(worker_pid = self.pid, %fault, "plugin worker failed");
            io.failure = Some(fault.clone());
            self.failed.store(true, Ordering::Release);
        }
        outcome
    }

    fn exchange(
        &self,
        io: &mut WorkerIo,
        call: worker_call::Call,
        deadline: Duration,
    ) -> Result<worker_reply::Reply, WorkerFault> {
        let frame = WorkerCall { call: Some(call) }.encode_to_vec();
        let sent = match io.stdin.as_mut() {
            Some(stdin) => write_frame(stdin, &frame),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        };
        if sent.is_err() {
            return Err(self.death(io));
        }
        match io.replies.recv_timeout(deadline) {
            Ok(frame) => decode_reply(&frame).inspect_err(|_| kill(&mut io.child)),
            Err(RecvTimeoutError::Timeout) => {
                kill(&mut io.child);
                Err(WorkerFault::CallDeadline {
                    deadline_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
                })
            }
            Err(RecvTimeoutError::Disconnected) => Err(self.death(io)),
        }
    }

    /// The worker's pipes broke: waits for it to exit (killing it after a grace period) and
    /// says why it died.
    fn death(&self, io: &mut WorkerIo) -> WorkerFault {
        io.stdin = None;
        let status = wait_with_grace(&mut io.child);
        // Its stderr ends when it does; the thread needs a moment to hand over the last words.
        let _ = io.stderr_done.recv_timeout(Duration::from_secs(1));
        let tail = io.stderr.lock().unwrap_or_else(PoisonError::into_inner);
        let stderr = String::from_utf8_lossy(&tail).trim().to_owned();
        match status {
            Ok(status) => classify(status, &stderr, self.memory_limit),
            Err(error) => WorkerFault::Protocol {
                detail: format!("the worker's pipes closed and waiting for it failed: {error}"),
            },
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let io = self.io.get_mut().unwrap_or_else(PoisonError::into_inner);
        io.stdin = None;
        kill(&mut io.child);
    }
}

/// One reply frame from a worker; anything else is a protocol fault (the worker is then killed:
/// the plugin inside it may have written to the protocol stream).
pub(crate) fn decode_reply(frame: &[u8]) -> Result<worker_reply::Reply, WorkerFault> {
    match WorkerReply::decode(frame) {
        Ok(WorkerReply { reply: Some(reply) }) => Ok(reply),
        Ok(WorkerReply { reply: None }) => Err(WorkerFault::Protocol {
            detail: "the worker sent an empty reply".to_owned(),
        }),
        Err(error) => Err(WorkerFault::Protocol {
            detail: format!("the worker sent an undecodable reply: {error}"),
        }),
    }
}

/// Kills (SIGKILL) and reaps the worker; a worker already gone is fine.
fn kill(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    drop(child.kill());
    drop(child.wait());
}

fn wait_with_grace(child: &mut Child) -> io::Result<ExitStatus> {
    // Counted naps rather than a clock: the grace is a bound, not a measurement.
    let nap = Duration::from_millis(2);
    for _ in 0..EXIT_GRACE.as_millis() / nap.as_millis() {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(nap);
    }
    drop(child.kill());
    child.wait()
}

/// Why a worker ended, from its exit status and the end of its stderr.
pub(crate) fn classify(status: ExitStatus, stderr: &str, memory_limit: Option<u64>) -> WorkerFault {
    let Some(signal) = status.signal() else {
        return WorkerFault::Exited {
            code: status.code().unwrap_or(-1),
            stderr: stderr.to_owned(),
        };
    };
    let name = signal_name(signal);
    // Rust's runtime names these on stderr before it aborts.
    if stderr.contains("has overflowed its stack") {
        return WorkerFault::StackOverflow { signal, name };
    }
    if let Some(limit_bytes) = memory_limit
        && let Some(line) = stderr
            .lines()
            .find(|line| line.contains("memory allocation of"))
    {
        return WorkerFault::MemoryLimit {
            limit_bytes,
            detail: line.trim().to_owned(),
        };
    }
    WorkerFault::Signalled {
        signal,
        name,
        stderr: stderr.to_owned(),
    }
}

/// The conventional name of a signal number on this platform.
pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "unknown signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signalled(signal: i32) -> ExitStatus {
        ExitStatus::from_raw(signal)
    }

    #[test]
    fn a_signal_is_named_and_keeps_the_last_words() {
        let fault = classify(signalled(libc::SIGSEGV), "", None);
        assert_eq!(
            fault,
            WorkerFault::Signalled {
                signal: libc::SIGSEGV,
                name: "SIGSEGV",
                stderr: String::new()
            }
        );
        let fault = classify(signalled(libc::SIGABRT), "bye", Some(1 << 20));
        assert_eq!(
            fault.to_string(),
            "killed by signal 6 (SIGABRT); stderr: bye"
        );
    }

    #[test]
    fn rusts_last_words_tell_a_stack_overflow_and_an_allocation_failure() {
        let overflow =
            "\nthread 'main' has overflowed its stack\nfatal runtime error: stack overflow";
        assert_eq!(
            classify(signalled(libc::SIGABRT), overflow, None),
            WorkerFault::StackOverflow {
                signal: libc::SIGABRT,
                name: "SIGABRT"
            }
        );
        let oom = "memory allocation of 1048576 bytes failed\n";
        assert_eq!(
            classify(signalled(libc::SIGABRT), oom, Some(64 << 20)),
            WorkerFault::MemoryLimit {
                limit_bytes: 64 << 20,
                detail: "memory allocation of 1048576 bytes failed".to_owned()
            }
        );
        // Without a limit of ours, an allocation failure is just an abort.
        assert!(matches!(
            classify(signalled(libc::SIGABRT), oom, None),
            WorkerFault::Signalled { .. }
        ));
    }

    #[test]
    fn an_exit_keeps_its_code() {
        let status = ExitStatus::from_raw(3 << 8);
        assert_eq!(
            classify(status, "", None),
            WorkerFault::Exited {
                code: 3,
                stderr: String::new()
            }
        );
    }
}
