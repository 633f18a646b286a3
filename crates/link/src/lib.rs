//! Serial (tokio-serial) and TCP links to meters and comms hubs, with timestamped traffic capture.
//!
//! Owns: opening and exclusively locking serial ports (open them by `/dev/serial/by-id/...`),
//! applying line settings mid-session, TCP connection with timeout and exponential backoff,
//! line pacing for pseudo-terminals, and capture of every byte in both directions with a
//! monotonic tokio-clock timestamp, exportable as JSON lines and hashable with SHA-256 for
//! evidence.
//!
//! The [`Link`] trait is what the plugin host drives on behalf of a sans-IO adapter plugin:
//! `Transmit` → [`Link::send`], `ReconfigureLink` → [`Link::reconfigure`], `FlushInput` →
//! [`Link::flush_input`], bytes from [`Link::receive`] → `BytesReceived`, and
//! [`LinkError::Dropped`] → `LinkClosed`.
//!
//! All time goes through tokio's clock, so timeouts, backoff and pacing are tested with
//! `#[tokio::test(start_paused = true)]`.
//!
//! ```no_run
//! use std::time::Duration;
//! use meterlab_link::{LineSettings, Link, SerialConfig, SerialLink};
//!
//! # async fn demo() -> Result<(), meterlab_link::LinkError> {
//! // The by-id path names the adapter, not the order it was plugged in.
//! let path = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0";
//! let mut link = SerialLink::open(SerialConfig::new(path, LineSettings::seven_e_one(300)))?;
//! link.send(b"/?!\r\n").await?;
//! let mut buf = [0u8; 128];
//! let n = link.receive_timeout(&mut buf, Duration::from_millis(1500)).await?;
//! link.reconfigure(LineSettings::seven_e_one(9600)).await?;
//! let evidence = link.capture().to_json_lines();
//! let evidence_sha256 = link.capture().sha256();
//! # let _ = (n, evidence, evidence_sha256);
//! # Ok(())
//! # }
//! ```
//!
//! Must never depend on plugins (meterlab-plugin, meterlab-plugin-host) or on the server.
#![forbid(unsafe_code)]

mod any_link;
pub mod capture;
mod error;
mod link;
pub mod pacing;
pub mod serial;
pub mod settings;
pub mod tcp;

pub use any_link::AnyLink;
pub use capture::{Capture, CaptureEntry, CaptureRecord, Direction, LinkEvent};
pub use error::{DropCause, LinkError};
pub use link::Link;
pub use pacing::Pacer;
pub use serial::{SerialConfig, SerialLink};
pub use settings::{LineSettings, Parity, StopBits};
pub use tcp::{Backoff, TcpConfig, TcpLink};
