//! [`LinkIo`] over a real device link from `meterlab-link` (serial line or TCP connection), so
//! that a session's `ReconfigureLink`, `FlushInput` and link drops reach the device and every byte
//! lands in the link's capture.

use std::io;

use meterlab_link::{LineSettings, Link, LinkError, Parity, StopBits};
use meterlab_plugin::pb::{self, ReconfigureLink};

use crate::link::LinkIo;

/// A `meterlab-link` link driven by a plugin session.
///
/// Adapters send partial `ReconfigureLink` actions (zero fields mean "unchanged"), while a link
/// takes whole [`LineSettings`]: this wrapper keeps the current settings and merges into them.
#[derive(Debug)]
pub struct DeviceLink<L> {
    link: L,
    settings: Option<LineSettings>,
}

impl<L: Link> DeviceLink<L> {
    /// Wraps `link`; `settings` are its current line settings (`None` for a link without any,
    /// such as TCP).
    pub fn new(link: L, settings: Option<LineSettings>) -> Self {
        Self { link, settings }
    }

    /// The line settings in force, as last applied.
    pub fn line_settings(&self) -> Option<LineSettings> {
        self.settings
    }

    /// The wrapped link (for its capture, say).
    pub fn link(&self) -> &L {
        &self.link
    }

    pub fn into_inner(self) -> L {
        self.link
    }
}

/// Merges a partial `ReconfigureLink` into `current`.
pub fn merge_settings(
    current: Option<LineSettings>,
    request: &ReconfigureLink,
) -> io::Result<LineSettings> {
    let base = match (current, request.baud) {
        (Some(current), _) => current,
        (None, 0) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "ReconfigureLink without a baud rate on a link with no line settings yet",
            ));
        }
        (None, baud) => LineSettings::eight_n_one(baud),
    };
    let data_bits = match request.data_bits {
        0 => base.data_bits,
        bits => u8::try_from(bits).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("ReconfigureLink data_bits {bits} is out of range"),
            )
        })?,
    };
    let parity = match request.parity() {
        pb::Parity::Unspecified => base.parity,
        pb::Parity::None => Parity::None,
        pb::Parity::Even => Parity::Even,
        pb::Parity::Odd => Parity::Odd,
    };
    let stop_bits = match request.stop_bits() {
        pb::StopBits::Unspecified => base.stop_bits,
        pb::StopBits::One => StopBits::One,
        pb::StopBits::Two => StopBits::Two,
    };
    Ok(LineSettings {
        baud_rate: if request.baud == 0 {
            base.baud_rate
        } else {
            request.baud
        },
        data_bits,
        parity,
        stop_bits,
    })
}

fn to_io(error: LinkError) -> io::Error {
    let kind = match &error {
        LinkError::Dropped { .. } | LinkError::Closed { .. } => io::ErrorKind::BrokenPipe,
        LinkError::InvalidSettings { .. } => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, error)
}

impl<L: Link> LinkIo for DeviceLink<L> {
    async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        self.link.send(data).await.map_err(to_io)
    }

    async fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.link.receive(buf).await {
            Ok(read) => Ok(read),
            // The session treats a zero-length read as the link closing.
            Err(LinkError::Dropped { .. } | LinkError::Closed { .. }) => Ok(0),
            Err(error) => Err(to_io(error)),
        }
    }

    async fn reconfigure(&mut self, request: &ReconfigureLink) -> io::Result<()> {
        let merged = merge_settings(self.settings, request)?;
        match self.link.reconfigure(merged).await {
            Ok(()) => {}
            // A TCP link has no line: remember what the adapter asked for, as a stream does.
            Err(LinkError::Unsupported { .. }) => {}
            Err(error) => return Err(to_io(error)),
        }
        self.settings = Some(merged);
        Ok(())
    }

    async fn flush_input(&mut self) -> io::Result<()> {
        self.link.flush_input().await.map(drop).map_err(to_io)
    }
}
