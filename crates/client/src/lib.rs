//! meterlab's typed gateway client: the one place where the client side converts to and from
//! the `meterlab.v1` protobuf messages.
//!
//! Owns: connecting to a gateway (plain, TLS, mutual TLS, bearer token — [`connect`]); typed
//! GovernanceService calls taking and returning governance domain values ([`Client`]); result
//! streaming with watermark resume ([`ResultStreamer`]); DeviceService and RunService calls
//! ([`devices`]); a lab gateway's outbox status ([`outbox`]); the report and stored results of
//! some entries as of one log position, for an evidence bundle ([`export`]). Errors are [`ClientError`],
//! carrying the gRPC code and message.
//!
//! Must never depend on `meterlab-server` or `meterlab-store`: it speaks the public API only,
//! exactly as a remote lab tool would.
#![forbid(unsafe_code)]

pub mod connect;
pub mod convert;
pub mod devices;
pub mod error;
pub mod export;
mod governance;
pub mod outbox;
mod report;
pub mod results;
pub mod types;

pub use connect::{ConnectOptions, GatewayChannel};
pub use error::{ClientError, Result};
pub use results::{ResultStreamer, StreamStats, case_result_to_proto};

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::device_service_client::DeviceServiceClient;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_proto::v1::run_service_client::RunServiceClient;

/// A connected gateway client. Cloning is cheap (one shared HTTP/2 connection).
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    channel: GatewayChannel,
    /// Who the client says it is in `EventMeta.actor` (the gateway records its own principal).
    actor: String,
}

impl Client {
    /// Connects to the gateway at `url` (`http://` or `https://`) with `options`' credentials.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Client> {
        let channel = connect::connect_channel(url, options).await?;
        Ok(Client {
            url: url.to_owned(),
            channel,
            actor: String::new(),
        })
    }

    /// The same client, naming `actor` in the events it records.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Client {
        self.actor = actor.into();
        self
    }

    /// The gateway URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn meta(&self, reason: &str) -> Option<pb::EventMeta> {
        Some(pb::EventMeta {
            actor: self.actor.clone(),
            reason: reason.to_owned(),
            occurred_at: None,
        })
    }

    pub(crate) fn governance(&self) -> GovernanceServiceClient<GatewayChannel> {
        GovernanceServiceClient::new(self.channel.clone())
    }

    pub(crate) fn results(&self) -> ResultServiceClient<GatewayChannel> {
        ResultServiceClient::new(self.channel.clone())
    }

    pub(crate) fn device_service(&self) -> DeviceServiceClient<GatewayChannel> {
        DeviceServiceClient::new(self.channel.clone())
    }

    pub(crate) fn run_service(&self) -> RunServiceClient<GatewayChannel> {
        RunServiceClient::new(self.channel.clone())
    }
}
