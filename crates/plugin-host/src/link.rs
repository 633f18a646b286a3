//! The link a session drives: the few operations adapter actions need.

use std::future::Future;
use std::io;

use futures::FutureExt as _;
use meterlab_plugin::pb::ReconfigureLink;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

/// A byte link to one device (serial line, TCP connection, in-memory pipe).
///
/// `recv` must be cancel-safe: the session races it against timers and deadlines.
pub trait LinkIo: Send {
    /// Writes all of `data`.
    fn send(&mut self, data: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads some bytes into `buf`; `Ok(0)` means the link closed.
    fn recv(&mut self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;
    /// Applies new line settings (zero fields mean unchanged).
    fn reconfigure(
        &mut self,
        settings: &ReconfigureLink,
    ) -> impl Future<Output = io::Result<()>> + Send;
    /// Discards bytes received but not yet read.
    fn flush_input(&mut self) -> impl Future<Output = io::Result<()>> + Send;
}

/// A [`LinkIo`] over any byte stream (TCP, a duplex pipe). A stream has no line settings, so
/// `reconfigure` only records them (see [`StreamLink::line_settings`]).
#[derive(Debug)]
pub struct StreamLink<S> {
    stream: S,
    line_settings: Option<ReconfigureLink>,
}

impl<S> StreamLink<S> {
    pub fn new(stream: S) -> Self {
        StreamLink {
            stream,
            line_settings: None,
        }
    }

    /// The last settings an adapter asked for, if any.
    pub fn line_settings(&self) -> Option<&ReconfigureLink> {
        self.line_settings.as_ref()
    }

    pub fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> LinkIo for StreamLink<S> {
    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data).await?;
        self.stream.flush().await
    }

    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf).await
    }

    async fn reconfigure(&mut self, settings: &ReconfigureLink) -> io::Result<()> {
        self.line_settings = Some(*settings);
        Ok(())
    }

    async fn flush_input(&mut self) -> io::Result<()> {
        let mut scratch = [0u8; 512];
        // Drain only what is already buffered: stop at the first read that would wait.
        while let Some(read) = self.stream.read(&mut scratch).now_or_never() {
            if read? == 0 {
                break;
            }
        }
        Ok(())
    }
}
