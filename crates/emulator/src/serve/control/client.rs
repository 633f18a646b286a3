//! A control client: what `meterlab emulate-ctl` and tests use.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::protocol::{Request, Response};

/// Why a control exchange failed on the client side.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The connection failed.
    #[error("control connection to {address}: {source}")]
    Io {
        /// The control address.
        address: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The emulator closed the connection without answering.
    #[error("the emulator at {0} closed the control connection without answering")]
    Closed(SocketAddr),
    /// The answer is not a response object.
    #[error("malformed control response from {address}: {message}")]
    Malformed {
        /// The control address.
        address: SocketAddr,
        /// What is wrong.
        message: String,
    },
}

/// A control client: one connection, requests answered in order.
#[derive(Debug)]
pub struct ControlClient {
    address: SocketAddr,
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl ControlClient {
    /// Connects to an emulator's control address.
    pub async fn connect(address: SocketAddr) -> Result<Self, ControlError> {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|source| ControlError::Io { address, source })?;
        let (reader, writer) = stream.into_split();
        Ok(Self {
            address,
            reader: BufReader::new(reader),
            writer,
        })
    }

    /// Sends one request and reads its response.
    pub async fn request(&mut self, request: &Request) -> Result<Response, ControlError> {
        let address = self.address;
        let mut bytes = serde_json::to_vec(request).map_err(|error| ControlError::Malformed {
            address,
            message: error.to_string(),
        })?;
        bytes.push(b'\n');
        self.writer
            .write_all(&bytes)
            .await
            .map_err(|source| ControlError::Io { address, source })?;
        let mut line = String::new();
        let read = self
            .reader
            .read_line(&mut line)
            .await
            .map_err(|source| ControlError::Io { address, source })?;
        if read == 0 {
            return Err(ControlError::Closed(address));
        }
        serde_json::from_str(line.trim()).map_err(|error| ControlError::Malformed {
            address,
            message: error.to_string(),
        })
    }
}
