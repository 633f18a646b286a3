//! [`AnyLink`]: a serial or TCP link chosen at run time, as one [`Link`].

use crate::capture::Capture;
use crate::error::LinkError;
use crate::link::Link;
use crate::serial::SerialLink;
use crate::settings::LineSettings;
use crate::tcp::TcpLink;

/// Either kind of link, for callers that choose at run time.
#[derive(Debug)]
pub enum AnyLink {
    Serial(SerialLink),
    Tcp(TcpLink),
}

impl From<SerialLink> for AnyLink {
    fn from(link: SerialLink) -> Self {
        Self::Serial(link)
    }
}

impl From<TcpLink> for AnyLink {
    fn from(link: TcpLink) -> Self {
        Self::Tcp(link)
    }
}

impl Link for AnyLink {
    fn name(&self) -> &str {
        match self {
            Self::Serial(link) => link.name(),
            Self::Tcp(link) => link.name(),
        }
    }

    fn capture(&self) -> &Capture {
        match self {
            Self::Serial(link) => link.capture(),
            Self::Tcp(link) => link.capture(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        match self {
            Self::Serial(link) => link.send(bytes).await,
            Self::Tcp(link) => link.send(bytes).await,
        }
    }

    async fn receive(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        match self {
            Self::Serial(link) => link.receive(buf).await,
            Self::Tcp(link) => link.receive(buf).await,
        }
    }

    async fn reconfigure(&mut self, settings: LineSettings) -> Result<(), LinkError> {
        match self {
            Self::Serial(link) => link.reconfigure(settings).await,
            Self::Tcp(link) => link.reconfigure(settings).await,
        }
    }

    async fn flush_input(&mut self) -> Result<usize, LinkError> {
        match self {
            Self::Serial(link) => link.flush_input().await,
            Self::Tcp(link) => link.flush_input().await,
        }
    }

    async fn reopen(&mut self) -> Result<(), LinkError> {
        match self {
            Self::Serial(link) => link.reopen().await,
            Self::Tcp(link) => link.reopen().await,
        }
    }

    async fn close(&mut self) -> Result<(), LinkError> {
        match self {
            Self::Serial(link) => link.close().await,
            Self::Tcp(link) => link.close().await,
        }
    }
}
