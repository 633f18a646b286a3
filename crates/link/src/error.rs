//! The one error type of this crate.

use std::io;
use std::time::Duration;

/// Why a link stopped carrying bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropCause {
    /// A read returned end-of-file (TCP peer closed, serial device gone).
    EndOfFile,
    /// The OS reported `EIO`: the far end of a pseudo-terminal closed, or a USB adapter was unplugged.
    InputOutputError,
    /// The connection was reset or the pipe broke while writing.
    Reset,
}

impl std::fmt::Display for DropCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::EndOfFile => "end of file",
            Self::InputOutputError => "I/O error (EIO)",
            Self::Reset => "connection reset",
        })
    }
}

/// Everything that can go wrong on a link. Each variant names the link (a path or an address).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The serial device could not be opened.
    #[error("cannot open serial port {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    /// Another process (or another link in this one) holds the port.
    #[error("serial port {path} is in use by another link (exclusive lock held)")]
    PortBusy { path: String },
    /// The serial driver refused a setting or an operation.
    #[error("serial port {path}: {operation} failed: {source}")]
    Serial {
        path: String,
        operation: &'static str,
        #[source]
        source: tokio_serial::Error,
    },
    /// Line settings that no UART can apply.
    #[error("invalid line settings: {reason}")]
    InvalidSettings { reason: String },
    /// The link dropped: the device or peer went away. Reopen or reconnect to continue.
    #[error("link {link} dropped: {cause}")]
    Dropped { link: String, cause: DropCause },
    /// No byte arrived in time; pending input was flushed so the next exchange starts clean.
    #[error("link {link}: nothing received within {after:?} ({discarded} pending bytes flushed)")]
    ReceiveTimeout {
        link: String,
        after: Duration,
        discarded: usize,
    },
    /// A TCP address that is not `host:port`.
    #[error("invalid TCP address {address:?}: {reason}")]
    BadAddress { address: String, reason: String },
    /// Connecting gave up after the configured attempts.
    #[error("could not connect to {address} after {attempts} attempt(s): {last_error}")]
    ConnectFailed {
        address: String,
        attempts: u32,
        last_error: String,
    },
    /// The operation has no meaning on this kind of link (e.g. a baud rate on TCP).
    #[error("{operation} is not supported on {link}")]
    Unsupported {
        link: String,
        operation: &'static str,
    },
    /// The link was closed by its owner.
    #[error("link {link} is closed")]
    Closed { link: String },
    /// Any other I/O failure.
    #[error("link {link}: {operation} failed: {source}")]
    Io {
        link: String,
        operation: &'static str,
        #[source]
        source: io::Error,
    },
}

impl LinkError {
    /// Classifies an I/O error from a read or write: a dropped link gets the typed variant.
    pub(crate) fn from_io(link: &str, operation: &'static str, source: io::Error) -> Self {
        let cause = match source.kind() {
            io::ErrorKind::UnexpectedEof => Some(DropCause::EndOfFile),
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected => Some(DropCause::Reset),
            _ if source.raw_os_error() == Some(libc::EIO) => Some(DropCause::InputOutputError),
            _ => None,
        };
        match cause {
            Some(cause) => Self::Dropped {
                link: link.to_owned(),
                cause,
            },
            None => Self::Io {
                link: link.to_owned(),
                operation,
                source,
            },
        }
    }

    /// True when the link is gone and must be reopened or reconnected.
    pub fn is_dropped(&self) -> bool {
        matches!(self, Self::Dropped { .. } | Self::Closed { .. })
    }
}
