//! The `Link` abstraction the plugin host drives: bytes out, bytes in, line changes, close.

use std::future::Future;
use std::time::Duration;

use crate::capture::Capture;
use crate::error::LinkError;
use crate::settings::LineSettings;

/// A byte pipe to one device, with every byte captured.
///
/// Calls on one link are sequential (`&mut self`). [`Link::receive`] is cancel-safe: dropping
/// its future before it completes loses no bytes, so it can sit in a `select!` against a timer.
/// [`Link::send`] is not: a cancelled send may have written part of its bytes (the part written
/// is in the capture).
pub trait Link: Send {
    /// Human-readable identity used in errors and captures, e.g. `serial:/dev/serial/by-id/…`.
    fn name(&self) -> &str;

    /// Handle to this link's traffic capture.
    fn capture(&self) -> &Capture;

    /// Writes all of `bytes` (paced to the line rate when pacing is on).
    fn send(&mut self, bytes: &[u8]) -> impl Future<Output = Result<(), LinkError>> + Send;

    /// Waits for at least one byte and returns how many were placed in `buf`.
    /// End-of-file and `EIO` are [`LinkError::Dropped`].
    fn receive(&mut self, buf: &mut [u8]) -> impl Future<Output = Result<usize, LinkError>> + Send;

    /// [`Link::receive`] with a deadline. On timeout, pending input is flushed (a late,
    /// partial frame must not be mistaken for the start of the next answer) and
    /// [`LinkError::ReceiveTimeout`] says how many bytes were discarded.
    fn receive_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> impl Future<Output = Result<usize, LinkError>> + Send {
        async move {
            match tokio::time::timeout(timeout, self.receive(buf)).await {
                Ok(result) => result,
                Err(_elapsed) => {
                    let discarded = self.flush_input().await?;
                    Err(LinkError::ReceiveTimeout {
                        link: self.name().to_owned(),
                        after: timeout,
                        discarded,
                    })
                }
            }
        }
    }

    /// Applies new line settings mid-session (serial only).
    fn reconfigure(
        &mut self,
        settings: LineSettings,
    ) -> impl Future<Output = Result<(), LinkError>> + Send;

    /// Discards input received but not yet read; returns how many bytes were discarded
    /// (as far as the OS can tell).
    fn flush_input(&mut self) -> impl Future<Output = Result<usize, LinkError>> + Send;

    /// Re-establishes a dropped link: reopens the serial port, or reconnects TCP with backoff.
    fn reopen(&mut self) -> impl Future<Output = Result<(), LinkError>> + Send;

    /// Closes the link; later calls fail with [`LinkError::Closed`] until [`Link::reopen`].
    fn close(&mut self) -> impl Future<Output = Result<(), LinkError>> + Send;
}
