//! Serial links over tokio-serial: RS-232 / USB adapters / optical probes, and PTYs in tests.
//!
//! Open ports by their stable udev name, `/dev/serial/by-id/usb-<vendor>_<model>_<serial>-if00-port0`,
//! not `/dev/ttyUSB0`: the `ttyUSBn` numbers follow plug-in order and change across reboots, so
//! a bench could otherwise talk to the wrong meter.
//!
//! Exclusivity has two layers, both set by opening in exclusive mode and re-asserted with
//! tokio-serial's `set_exclusive(true)`: `TIOCEXCL`, which makes any further `open(2)` of the
//! device fail with `EBUSY` — except for root (`CAP_SYS_ADMIN`), which is how lab gateways often
//! run — and an exclusive advisory `flock(2)` on the open port, which also stops root. Either way
//! a second open is [`LinkError::PortBusy`].

use std::io;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::{ClearBuffer, SerialPort, SerialStream};

use crate::capture::{Capture, Direction};
use crate::error::{DropCause, LinkError};
use crate::link::Link;
use crate::pacing::Pacer;
use crate::settings::LineSettings;

/// How to open a serial link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialConfig {
    /// Device path; prefer `/dev/serial/by-id/...` (see the module docs).
    pub path: String,
    pub settings: LineSettings,
    /// Hold writes back to the line rate. Needed when the far end is a PTY (an emulator), which
    /// does not pace itself; harmless but unnecessary on a real UART.
    pub pace_output: bool,
}

impl SerialConfig {
    pub fn new(path: impl Into<String>, settings: LineSettings) -> Self {
        Self {
            path: path.into(),
            settings,
            pace_output: false,
        }
    }

    pub fn paced(mut self, pace_output: bool) -> Self {
        self.pace_output = pace_output;
        self
    }
}

/// An open serial port.
#[derive(Debug)]
pub struct SerialLink {
    name: String,
    /// `None` for links built from an existing stream; those cannot be reopened.
    config: Option<SerialConfig>,
    stream: Option<SerialStream>,
    /// Tracks when the line will have sent everything written; waits on it only when pacing.
    line: Pacer,
    pace_output: bool,
    capture: Capture,
}

impl SerialLink {
    /// Opens and exclusively locks the port, applying `config.settings`.
    /// Must be called inside a tokio runtime.
    pub fn open(config: SerialConfig) -> Result<Self, LinkError> {
        let name = format!("serial:{}", config.path);
        let capture = Capture::new(name.clone());
        let stream = open_exclusive(&config)?;
        capture.note(format!("opened {} at {}", config.path, config.settings));
        tracing::debug!(path = %config.path, settings = %config.settings, "serial link opened");
        Ok(Self {
            name,
            line: Pacer::new(config.settings),
            pace_output: config.pace_output,
            config: Some(config),
            stream: Some(stream),
            capture,
        })
    }

    /// Wraps a stream opened elsewhere (e.g. the master end of `SerialStream::pair()` in an
    /// emulator). `settings` are what the line is taken to run at, for pacing and capture; they
    /// are not applied. Such a link takes no lock and cannot be reopened.
    pub fn from_stream(
        stream: SerialStream,
        name: impl Into<String>,
        settings: LineSettings,
        pace_output: bool,
    ) -> Self {
        let name = name.into();
        let capture = Capture::new(name.clone());
        capture.note(format!("attached at {settings}"));
        Self {
            name,
            config: None,
            stream: Some(stream),
            line: Pacer::new(settings),
            pace_output,
            capture,
        }
    }

    /// Replaces the capture (e.g. to share one capture between several links of a session).
    pub fn with_capture(mut self, capture: Capture) -> Self {
        self.capture = capture;
        self
    }

    pub fn settings(&self) -> LineSettings {
        self.line.settings()
    }

    /// Whether `TIOCEXCL` is set on the open port (false when closed).
    pub fn is_exclusive(&self) -> bool {
        self.stream.as_ref().is_some_and(SerialStream::exclusive)
    }

    /// The line settings the driver reports (baud, data bits, parity, stop bits).
    pub fn driver_settings(&self) -> Result<LineSettings, LinkError> {
        let stream = self.stream()?;
        let failed = |operation, source| LinkError::Serial {
            path: self.name.clone(),
            operation,
            source,
        };
        let baud_rate = stream
            .baud_rate()
            .map_err(|e| failed("read baud rate", e))?;
        let data_bits = match stream
            .data_bits()
            .map_err(|e| failed("read data bits", e))?
        {
            tokio_serial::DataBits::Five => 5,
            tokio_serial::DataBits::Six => 6,
            tokio_serial::DataBits::Seven => 7,
            tokio_serial::DataBits::Eight => 8,
        };
        let parity = match stream.parity().map_err(|e| failed("read parity", e))? {
            tokio_serial::Parity::None => crate::settings::Parity::None,
            tokio_serial::Parity::Odd => crate::settings::Parity::Odd,
            tokio_serial::Parity::Even => crate::settings::Parity::Even,
        };
        let stop_bits = match stream
            .stop_bits()
            .map_err(|e| failed("read stop bits", e))?
        {
            tokio_serial::StopBits::One => crate::settings::StopBits::One,
            tokio_serial::StopBits::Two => crate::settings::StopBits::Two,
        };
        Ok(LineSettings {
            baud_rate,
            data_bits,
            parity,
            stop_bits,
        })
    }

    fn stream(&self) -> Result<&SerialStream, LinkError> {
        self.stream.as_ref().ok_or_else(|| LinkError::Closed {
            link: self.name.clone(),
        })
    }

    fn dropped(&mut self, error: LinkError) -> LinkError {
        if let LinkError::Dropped { cause, .. } = &error {
            self.capture.note(format!("dropped: {cause}"));
            tracing::warn!(link = %self.name, %cause, "serial link dropped");
        }
        error
    }
}

fn open_exclusive(config: &SerialConfig) -> Result<SerialStream, LinkError> {
    let parts = config.settings.to_serial()?;
    let builder = tokio_serial::new(&config.path, config.settings.baud_rate)
        .data_bits(parts.data_bits)
        .parity(parts.parity)
        .stop_bits(parts.stop_bits)
        .flow_control(tokio_serial::FlowControl::None);
    let mut stream = SerialStream::open(&builder).map_err(|e| {
        if is_busy(&e) {
            LinkError::PortBusy {
                path: config.path.clone(),
            }
        } else {
            LinkError::Open {
                path: config.path.clone(),
                source: io::Error::from(e),
            }
        }
    })?;
    stream
        .set_exclusive(true)
        .map_err(|source| LinkError::Serial {
            path: config.path.clone(),
            operation: "set exclusive (TIOCEXCL and flock)",
            source,
        })?;
    Ok(stream)
}

/// `EBUSY` from `open(2)` (TIOCEXCL held by another opener), or the serialport crate's report
/// that the exclusive `flock` is held elsewhere.
fn is_busy(error: &tokio_serial::Error) -> bool {
    match error.kind {
        tokio_serial::ErrorKind::Io(kind) => kind == io::ErrorKind::ResourceBusy,
        tokio_serial::ErrorKind::NoDevice => error.description.contains("lock"),
        _ => false,
    }
}

impl Link for SerialLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn capture(&self) -> &Capture {
        &self.capture
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let chunk_len = if self.pace_output {
            self.line.chunk_len()
        } else {
            bytes.len().max(1)
        };
        for chunk in bytes.chunks(chunk_len) {
            let Some(stream) = self.stream.as_mut() else {
                return Err(LinkError::Closed {
                    link: self.name.clone(),
                });
            };
            if let Err(e) = stream.write_all(chunk).await {
                let error = LinkError::from_io(&self.name, "write", e);
                return Err(self.dropped(error));
            }
            self.capture.record(Direction::Tx, chunk);
            let done = self.line.reserve(tokio::time::Instant::now(), chunk.len());
            if self.pace_output {
                tokio::time::sleep_until(done).await;
            }
        }
        Ok(())
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

    async fn reconfigure(&mut self, settings: LineSettings) -> Result<(), LinkError> {
        let parts = settings.to_serial()?;
        // Changing the rate while the UART still shifts out earlier bytes would garble them.
        let line_free = self.line.reserve(tokio::time::Instant::now(), 0);
        tokio::time::sleep_until(line_free).await;
        let name = self.name.clone();
        let Some(stream) = self.stream.as_mut() else {
            return Err(LinkError::Closed { link: name });
        };
        let failed = |operation, source| LinkError::Serial {
            path: name.clone(),
            operation,
            source,
        };
        stream
            .set_baud_rate(settings.baud_rate)
            .map_err(|e| failed("set baud rate", e))?;
        stream
            .set_data_bits(parts.data_bits)
            .map_err(|e| failed("set data bits", e))?;
        stream
            .set_parity(parts.parity)
            .map_err(|e| failed("set parity", e))?;
        stream
            .set_stop_bits(parts.stop_bits)
            .map_err(|e| failed("set stop bits", e))?;
        self.line.set_settings(settings);
        if let Some(config) = self.config.as_mut() {
            config.settings = settings;
        }
        self.capture.note(format!("reconfigured: {settings}"));
        tracing::debug!(link = %self.name, %settings, "serial link reconfigured");
        Ok(())
    }

    async fn flush_input(&mut self) -> Result<usize, LinkError> {
        let name = self.name.clone();
        let Some(stream) = self.stream.as_mut() else {
            return Err(LinkError::Closed { link: name });
        };
        let pending = stream.bytes_to_read().map_err(|source| LinkError::Serial {
            path: name.clone(),
            operation: "count pending input",
            source,
        })?;
        stream
            .clear(ClearBuffer::Input)
            .map_err(|source| LinkError::Serial {
                path: name.clone(),
                operation: "flush input",
                source,
            })?;
        let discarded = usize::try_from(pending).unwrap_or(usize::MAX);
        self.capture
            .note(format!("flushed input ({discarded} bytes)"));
        Ok(discarded)
    }

    async fn reopen(&mut self) -> Result<(), LinkError> {
        let Some(config) = self.config.clone() else {
            return Err(LinkError::Unsupported {
                link: self.name.clone(),
                operation: "reopen of a link attached to an existing stream",
            });
        };
        // Release the old port (and its locks) first: a replugged adapter reappears at the
        // same by-id path.
        self.stream = None;
        self.stream = Some(open_exclusive(&config)?);
        self.line = Pacer::new(config.settings);
        self.capture
            .note(format!("reopened {} at {}", config.path, config.settings));
        Ok(())
    }

    async fn close(&mut self) -> Result<(), LinkError> {
        if self.stream.take().is_some() {
            self.capture.note("closed");
        }
        Ok(())
    }
}
