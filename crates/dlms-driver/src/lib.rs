//! One async driver for DLMS clients in tests and benches: a `meterlab-dlms`
//! [`ClientConnection`] (wrapper or HDLC transport, and the association above it) pumped over a
//! tokio byte stream, with the connection's own response and inactivity timeouts armed on
//! tokio's clock (so tests on paused time see them fire without waiting).
//!
//! Owns only the loop between bytes and the sans-IO connection; every protocol decision stays in
//! `meterlab-dlms`. A dev-dependency: no library may depend on it.
#![forbid(unsafe_code)]

use std::time::Duration;

use meterlab_dlms::apdu::DataAccessResult;
use meterlab_dlms::association::{
    ClientAssociation, ClientAuthentication, ClientConfig, ClientEvent,
};
use meterlab_dlms::axdr::Data;
use meterlab_dlms::connection::{
    ClientConnection, ClientConnectionEvent, ClientTransport, ConnectionError, WrapperLink,
};
use meterlab_dlms::cosem::{AttributeDescriptor, MethodDescriptor, SelectiveAccess};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Why the driver could not deliver an event.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Reading or writing the stream failed.
    #[error("stream: {0}")]
    Io(#[from] std::io::Error),
    /// The connection refused a request (e.g. not associated).
    #[error("connection: {0}")]
    Connection(#[from] ConnectionError),
    /// The peer closed the stream.
    #[error("the peer closed the connection")]
    Closed,
    /// Nothing arrived within the caller's patience.
    #[error("no event within {0:?}")]
    Silent(Duration),
    /// An event other than the one the call waits for.
    #[error("unexpected event {0:?}")]
    Unexpected(Box<ClientConnectionEvent>),
}

/// A client connection driven over `S`.
#[derive(Debug)]
pub struct Driver<S> {
    stream: S,
    connection: ClientConnection,
    origin: Instant,
    buffer: Vec<u8>,
}

/// LLS with `password` and otherwise the default client configuration.
pub fn lls(password: &[u8]) -> ClientAssociation {
    // The default configuration with LLS is always valid; a failure here is a bug in meterlab-dlms.
    ClientAssociation::new(ClientConfig {
        authentication: ClientAuthentication::Lls {
            password: password.to_vec(),
        },
        ..ClientConfig::default()
    })
    .unwrap_or_else(|error| panic!("default LLS client configuration refused: {error}"))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// Drives `connection` over `stream`; `now_ms` counts from this call.
    pub fn new(stream: S, connection: ClientConnection) -> Self {
        Self {
            stream,
            connection,
            origin: Instant::now(),
            buffer: vec![0; 4096],
        }
    }

    /// The TCP wrapper from `client_sap` to `wport` with `association` above it.
    pub fn wrapper(stream: S, client_sap: u8, wport: u16, association: ClientAssociation) -> Self {
        let link = WrapperLink::new(u16::from(client_sap), wport, u16::MAX);
        Self::new(
            stream,
            ClientConnection::new(ClientTransport::Wrapper(link), association),
        )
    }

    /// The sans-IO connection (to inspect its association).
    pub fn connection(&self) -> &ClientConnection {
        &self.connection
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn flush(&mut self) -> Result<(), DriverError> {
        while let Some(bytes) = self.connection.poll_transmit() {
            self.stream.write_all(&bytes).await?;
        }
        Ok(())
    }

    /// Sends what is queued, then waits up to `patience` for the connection's next event,
    /// firing its own timeouts as they fall due. `Ok(None)` when nothing happened in time.
    pub async fn next_event(
        &mut self,
        patience: Duration,
    ) -> Result<Option<ClientConnectionEvent>, DriverError> {
        let deadline = Instant::now() + patience;
        loop {
            self.flush().await?;
            if let Some(event) = self.connection.poll_event() {
                return Ok(Some(event));
            }
            let timer = self
                .connection
                .poll_timeout()
                .map(|at_ms| self.origin + Duration::from_millis(at_ms));
            if timer.is_some_and(|timer| timer <= Instant::now()) {
                let now = self.now_ms();
                self.connection.handle_timeout(now);
                continue;
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let wake = timer.map_or(deadline, |timer| timer.min(deadline));
            match tokio::time::timeout_at(wake, self.stream.read(&mut self.buffer)).await {
                Ok(Ok(0)) => return Err(DriverError::Closed),
                Ok(Ok(read)) => {
                    let now = self.now_ms();
                    let Self {
                        connection, buffer, ..
                    } = self;
                    connection.handle_bytes(&buffer[..read], now);
                }
                Ok(Err(error)) => return Err(error.into()),
                // A timer or the deadline: the top of the loop tells which.
                Err(_) => {}
            }
        }
    }

    /// The next association event, skipping link-level `LinkUp`; a link going down or a
    /// connection error is returned as [`DriverError::Unexpected`].
    pub async fn next_association_event(
        &mut self,
        patience: Duration,
    ) -> Result<ClientEvent, DriverError> {
        loop {
            match self.next_event(patience).await? {
                None => return Err(DriverError::Silent(patience)),
                Some(ClientConnectionEvent::LinkUp) => {}
                Some(ClientConnectionEvent::Association(event)) => return Ok(event),
                Some(other) => return Err(DriverError::Unexpected(Box::new(other))),
            }
        }
    }

    /// Opens the link and sends the AARQ; the AARE's outcome (`Associated` or `Rejected`).
    pub async fn associate(&mut self, patience: Duration) -> Result<ClientEvent, DriverError> {
        let now = self.now_ms();
        self.connection.connect(now)?;
        self.next_association_event(patience).await
    }

    /// GET of one attribute.
    pub async fn get(
        &mut self,
        attribute: AttributeDescriptor,
        access: Option<SelectiveAccess>,
        patience: Duration,
    ) -> Result<Result<Data, DataAccessResult>, DriverError> {
        let now = self.now_ms();
        self.connection.get(now, attribute, access)?;
        match self.next_association_event(patience).await? {
            ClientEvent::GetCompleted { result, .. } => Ok(result),
            other => Err(unexpected(other)),
        }
    }

    /// ACTION on one method.
    pub async fn action(
        &mut self,
        method: MethodDescriptor,
        parameters: Option<Data>,
        patience: Duration,
    ) -> Result<ClientEvent, DriverError> {
        let now = self.now_ms();
        self.connection.action(now, method, parameters)?;
        self.next_association_event(patience).await
    }
}

fn unexpected(event: ClientEvent) -> DriverError {
    DriverError::Unexpected(Box::new(ClientConnectionEvent::Association(event)))
}
