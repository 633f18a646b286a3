//! A lab gateway's outbox: what it acknowledged and has not forwarded to the central service yet.

use meterlab_proto::v1 as pb;
use serde::Serialize;

use crate::Client;
use crate::error::{ClientError, Result};

/// One source's positions in a lab gateway's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxSource {
    pub source: String,
    /// Every seq up to this is stored by the lab gateway.
    pub local_watermark: u64,
    /// Every seq up to this is stored upstream (as the lab gateway last saw it).
    pub upstream_watermark: u64,
    /// Every seq up to this was acknowledged upstream as the very result the lab stored.
    pub confirmed: u64,
    /// Why forwarding of the source stopped, if it did.
    pub stopped: Option<String>,
}

/// The last result the upstream acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastForward {
    /// Seconds since the Unix epoch.
    pub at_unix_s: i64,
    pub source: String,
    pub seq: u64,
    pub url: String,
}

/// A gateway's forwarding state; `upstream_urls` is empty on a gateway that is not a lab gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxStatus {
    pub upstream_urls: Vec<String>,
    /// Results acknowledged locally and not known to be stored upstream; `None` until the
    /// upstream has answered for every source since the lab gateway started.
    pub backlog: Option<u64>,
    pub last_forward: Option<LastForward>,
    pub last_error: Option<String>,
    /// Seconds since the Unix epoch.
    pub last_error_at_unix_s: Option<i64>,
    pub sources: Vec<OutboxSource>,
}

impl OutboxStatus {
    /// Whether the gateway forwards to an upstream.
    pub fn is_lab_gateway(&self) -> bool {
        !self.upstream_urls.is_empty()
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl From<pb::OutboxStatus> for OutboxStatus {
    fn from(answer: pb::OutboxStatus) -> OutboxStatus {
        let last_forward = answer.last_forward_at.map(|at| LastForward {
            at_unix_s: at.seconds,
            source: answer.last_forward_source,
            seq: answer.last_forward_seq,
            url: answer.last_forward_url,
        });
        OutboxStatus {
            upstream_urls: answer.upstream_urls,
            backlog: answer.backlog_known.then_some(answer.backlog),
            last_forward,
            last_error: non_empty(answer.last_error),
            last_error_at_unix_s: answer.last_error_at.map(|at| at.seconds),
            sources: answer
                .sources
                .into_iter()
                .map(|s| OutboxSource {
                    source: s.source,
                    local_watermark: s.local_watermark,
                    upstream_watermark: s.upstream_watermark,
                    confirmed: s.confirmed,
                    stopped: non_empty(s.stopped),
                })
                .collect(),
        }
    }
}

impl Client {
    /// The gateway's outbox status. A gateway that predates the OutboxService answers as one
    /// without an upstream.
    pub async fn outbox_status(&self) -> Result<OutboxStatus> {
        let answer = pb::outbox_service_client::OutboxServiceClient::new(self.channel.clone())
            .get_outbox_status(pb::GetOutboxStatusRequest {})
            .await;
        match answer {
            Ok(answer) => Ok(answer.into_inner().into()),
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                Ok(pb::OutboxStatus::default().into())
            }
            Err(status) => Err(ClientError::status("GetOutboxStatus", &status)),
        }
    }
}
