//! TCP links (the DLMS/COSEM TCP wrapper, comms hubs on the network), with connect timeouts and
//! reconnection under exponential backoff.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::capture::{Capture, Direction};
use crate::error::{DropCause, LinkError};
use crate::link::Link;
use crate::settings::LineSettings;

/// Exponential backoff between connection attempts.
///
/// Attempt 1 is immediate; after failed attempt `k` the link waits
/// `min(initial × multiplierᵏ⁻¹, max)` before attempt `k + 1`. No jitter: one gateway talks to
/// one device, there is no herd to spread out, and a deterministic schedule is testable.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    /// At least 1.0.
    pub multiplier: f64,
    /// Total attempts including the first; `None` retries forever.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
            multiplier: 2.0,
            max_attempts: Some(8),
        }
    }
}

impl Backoff {
    pub fn validate(&self) -> Result<(), LinkError> {
        let bad = |reason: String| Err(LinkError::InvalidSettings { reason });
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return bad(format!(
                "backoff multiplier must be a finite number >= 1.0, got {}",
                self.multiplier
            ));
        }
        if self.initial > self.max {
            return bad(format!(
                "backoff initial delay {:?} exceeds its maximum {:?}",
                self.initial, self.max
            ));
        }
        if self.max_attempts == Some(0) {
            return bad("backoff max_attempts must be at least 1".into());
        }
        Ok(())
    }

    /// The wait after failed attempt `attempt` (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.multiplier.powi(exponent);
        if !secs.is_finite() || secs >= self.max.as_secs_f64() {
            self.max
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// Runs `attempt` until it succeeds or the attempts are used up, sleeping on tokio's clock
    /// between tries. Returns the value and how many attempts it took, or the number of attempts
    /// and the last error.
    pub async fn retry<T, E, F, Fut>(&self, mut attempt: F) -> Result<(T, u32), (u32, E)>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut number = 1;
        loop {
            match attempt(number).await {
                Ok(value) => return Ok((value, number)),
                Err(error) => {
                    if self.max_attempts.is_some_and(|max| number >= max) {
                        return Err((number, error));
                    }
                    tokio::time::sleep(self.delay_after(number)).await;
                    number = number.saturating_add(1);
                }
            }
        }
    }
}

/// How to reach a TCP device.
#[derive(Debug, Clone, PartialEq)]
pub struct TcpConfig {
    /// `host:port`, e.g. `127.0.0.1:4059` (4059 is the DLMS/COSEM port).
    pub address: String,
    /// Limit on each connection attempt.
    pub connect_timeout: Duration,
    pub backoff: Backoff,
}

impl TcpConfig {
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            connect_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
        }
    }

    fn validate(&self) -> Result<(), LinkError> {
        let bad = |reason: &str| LinkError::BadAddress {
            address: self.address.clone(),
            reason: reason.to_owned(),
        };
        let (host, port) = self
            .address
            .rsplit_once(':')
            .ok_or_else(|| bad("expected host:port"))?;
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        port.parse::<u16>()
            .map_err(|_| bad("port is not a number from 0 to 65535"))?;
        if self.connect_timeout.is_zero() {
            return Err(LinkError::InvalidSettings {
                reason: "connect timeout must be greater than 0".into(),
            });
        }
        self.backoff.validate()
    }
}

/// A connected TCP link.
#[derive(Debug)]
pub struct TcpLink {
    name: String,
    config: TcpConfig,
    stream: Option<TcpStream>,
    capture: Capture,
}

impl TcpLink {
    /// Connects, retrying under `config.backoff`, each attempt limited by `config.connect_timeout`.
    pub async fn connect(config: TcpConfig) -> Result<Self, LinkError> {
        config.validate()?;
        let name = format!("tcp:{}", config.address);
        let capture = Capture::new(name.clone());
        let stream = connect_with_backoff(&config, &capture).await?;
        Ok(Self {
            name,
            config,
            stream: Some(stream),
            capture,
        })
    }

    /// Wraps an accepted or already connected stream (e.g. the server side in an emulator).
    /// `reopen` reconnects to `config.address`.
    pub fn from_stream(stream: TcpStream, config: TcpConfig) -> Self {
        let name = format!("tcp:{}", config.address);
        let capture = Capture::new(name.clone());
        capture.note("attached");
        Self {
            name,
            config,
            stream: Some(stream),
            capture,
        }
    }

    /// Replaces the capture (e.g. to share one capture between several links of a session).
    pub fn with_capture(mut self, capture: Capture) -> Self {
        self.capture = capture;
        self
    }

    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    fn dropped(&mut self, error: LinkError) -> LinkError {
        if let LinkError::Dropped { cause, .. } = &error {
            self.capture.note(format!("dropped: {cause}"));
            tracing::warn!(link = %self.name, %cause, "tcp link dropped");
            self.stream = None;
        }
        error
    }
}

async fn connect_with_backoff(
    config: &TcpConfig,
    capture: &Capture,
) -> Result<TcpStream, LinkError> {
    let stream = connect_with_backoff_using(config, capture, TcpStream::connect).await?;
    // Request/response protocols: never hold a small frame back waiting for more.
    stream.set_nodelay(true).map_err(|source| LinkError::Io {
        link: format!("tcp:{}", config.address),
        operation: "set TCP_NODELAY",
        source,
    })?;
    Ok(stream)
}

/// The retry loop with the connecting function supplied, so that tests can stand in a peer that
/// never answers.
async fn connect_with_backoff_using<'a, S, C, Fut>(
    config: &'a TcpConfig,
    capture: &Capture,
    connect: C,
) -> Result<S, LinkError>
where
    C: Fn(&'a str) -> Fut,
    Fut: Future<Output = io::Result<S>>,
{
    let connect = &connect;
    let result = config
        .backoff
        .retry(|attempt| async move {
            match tokio::time::timeout(config.connect_timeout, connect(config.address.as_str()))
                .await
            {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => {
                    tracing::debug!(address = %config.address, attempt, error = %e, "connect failed");
                    Err(e)
                }
                Err(_elapsed) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connect timed out after {:?}", config.connect_timeout),
                )),
            }
        })
        .await;
    match result {
        Ok((stream, attempts)) => {
            capture.note(format!(
                "connected to {} after {attempts} attempt(s)",
                config.address
            ));
            Ok(stream)
        }
        Err((attempts, last)) => {
            capture.note(format!(
                "gave up connecting to {} after {attempts} attempt(s): {last}",
                config.address
            ));
            Err(LinkError::ConnectFailed {
                address: config.address.clone(),
                attempts,
                last_error: last.to_string(),
            })
        }
    }
}

impl Link for TcpLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn capture(&self) -> &Capture {
        &self.capture
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(LinkError::Closed {
                link: self.name.clone(),
            });
        };
        match stream.write_all(bytes).await {
            Ok(()) => {
                self.capture.record(Direction::Tx, bytes);
                Ok(())
            }
            Err(e) => {
                let error = LinkError::from_io(&self.name, "write", e);
                Err(self.dropped(error))
            }
        }
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(LinkError::Closed {
                link: self.name.clone(),
            });
        };
        if buf.is_empty() {
            return Ok(0);
        }
        match stream.read(buf).await {
            Ok(0) => {
                let error = LinkError::Dropped {
                    link: self.name.clone(),
                    cause: DropCause::EndOfFile,
                };
                Err(self.dropped(error))
            }
            Ok(n) => {
                self.capture.record(Direction::Rx, &buf[..n]);
                Ok(n)
            }
            Err(e) => {
                let error = LinkError::from_io(&self.name, "read", e);
                Err(self.dropped(error))
            }
        }
    }

    async fn reconfigure(&mut self, _settings: LineSettings) -> Result<(), LinkError> {
        Err(LinkError::Unsupported {
            link: self.name.clone(),
            operation: "changing line settings",
        })
    }

    async fn flush_input(&mut self) -> Result<usize, LinkError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(LinkError::Closed {
                link: self.name.clone(),
            });
        };
        let mut discarded = 0usize;
        let mut buf = [0u8; 4096];
        let outcome = loop {
            match stream.try_read(&mut buf) {
                // The peer closed; the next receive reports it.
                Ok(0) => break Ok(()),
                Ok(n) => discarded = discarded.saturating_add(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) => break Err(LinkError::from_io(&self.name, "flush input", e)),
            }
        };
        if let Err(error) = outcome {
            return Err(self.dropped(error));
        }
        self.capture
            .note(format!("flushed input ({discarded} bytes)"));
        Ok(discarded)
    }

    async fn reopen(&mut self) -> Result<(), LinkError> {
        self.stream = None;
        let stream = connect_with_backoff(&self.config, &self.capture).await?;
        self.stream = Some(stream);
        Ok(())
    }

    async fn close(&mut self) -> Result<(), LinkError> {
        if let Some(mut stream) = self.stream.take() {
            // Best effort: the peer may already be gone, which is what closing wants anyway.
            let _ = stream.shutdown().await;
            self.capture.note("closed");
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tokio::time::Instant;

    use super::*;

    fn backoff(
        initial_ms: u64,
        max_ms: u64,
        multiplier: f64,
        max_attempts: Option<u32>,
    ) -> Backoff {
        Backoff {
            initial: Duration::from_millis(initial_ms),
            max: Duration::from_millis(max_ms),
            multiplier,
            max_attempts,
        }
    }

    #[test]
    fn delays_grow_by_the_multiplier_up_to_the_maximum() {
        let b = backoff(100, 1000, 3.0, None);
        let delays: Vec<u64> = (1..=5)
            .map(|k| b.delay_after(k).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 300, 900, 1000, 1000]);
        let flat = backoff(250, 250, 1.0, None);
        assert_eq!(flat.delay_after(40), Duration::from_millis(250));
        assert_eq!(
            backoff(1, 5000, 2.0, None).delay_after(u32::MAX),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn invalid_backoff_settings_are_refused() {
        assert!(backoff(100, 10, 2.0, None).validate().is_err());
        assert!(backoff(10, 100, 0.5, None).validate().is_err());
        assert!(backoff(10, 100, f64::NAN, None).validate().is_err());
        assert!(backoff(10, 100, 2.0, Some(0)).validate().is_err());
        assert!(backoff(10, 100, 2.0, Some(1)).validate().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_waits_exactly_the_configured_delays_and_stops_at_max_attempts() {
        let b = backoff(100, 400, 2.0, Some(5));
        let start = Instant::now();
        let times = Arc::new(Mutex::new(Vec::new()));
        let result: Result<((), u32), (u32, &str)> = b
            .retry(|_| {
                let times = Arc::clone(&times);
                async move {
                    times
                        .lock()
                        .unwrap()
                        .push(start.elapsed().as_millis() as u64);
                    Err("refused")
                }
            })
            .await;
        assert_eq!(result, Err((5, "refused")));
        // Waits 100, 200, 400, 400 (capped): attempts at these offsets.
        assert_eq!(*times.lock().unwrap(), [0, 100, 300, 700, 1100]);
        assert_eq!(start.elapsed(), Duration::from_millis(1100));
    }

    #[tokio::test(start_paused = true)]
    async fn retry_returns_the_attempt_that_succeeded() {
        let b = backoff(50, 1000, 2.0, Some(10));
        let start = Instant::now();
        let result: Result<(u32, u32), (u32, ())> = b
            .retry(|n| async move { if n == 3 { Ok(n * 10) } else { Err(()) } })
            .await;
        assert_eq!(result, Ok((30, 3)));
        assert_eq!(start.elapsed(), Duration::from_millis(150));
    }

    #[tokio::test(start_paused = true)]
    async fn each_attempt_is_cut_off_at_the_connect_timeout() {
        let config = TcpConfig {
            address: "192.0.2.1:4059".into(),
            connect_timeout: Duration::from_secs(2),
            backoff: backoff(100, 1000, 2.0, Some(3)),
        };
        let capture = Capture::new("tcp:test");
        let start = Instant::now();
        // A peer that never answers the SYN.
        let result = connect_with_backoff_using(&config, &capture, |_| {
            std::future::pending::<io::Result<()>>()
        })
        .await;
        // 3 attempts of 2 s each, with 100 ms and 200 ms between them.
        assert_eq!(start.elapsed(), Duration::from_millis(6300));
        match result {
            Err(LinkError::ConnectFailed {
                attempts,
                last_error,
                ..
            }) => {
                assert_eq!(attempts, 3);
                assert!(last_error.contains("timed out after 2s"), "{last_error}");
            }
            other => panic!("expected ConnectFailed, got {other:?}"),
        }
        let notes = capture.to_json_lines();
        assert!(
            notes.contains("gave up connecting to 192.0.2.1:4059 after 3 attempt(s)"),
            "{notes}"
        );
    }

    #[test]
    fn addresses_are_checked_before_connecting() {
        for (address, reason) in [
            ("localhost", "expected host:port"),
            (":4059", "empty host"),
            ("meter:99999", "port is not a number"),
        ] {
            let err = TcpConfig::new(address).validate().unwrap_err().to_string();
            assert!(err.contains(reason), "{address}: {err}");
        }
        assert!(TcpConfig::new("[::1]:4059").validate().is_ok());
    }
}
