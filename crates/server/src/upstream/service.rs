//! OutboxService: a lab gateway's forwarding status over gRPC (`meterlab status`).

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::outbox_service_server::OutboxService;
use tonic::{Request, Response, Status};

use super::Outbox;

/// Served by every gateway; one without an upstream answers an empty status.
#[derive(Debug, Clone, Default)]
pub struct OutboxServiceImpl {
    outbox: Option<Outbox>,
}

impl OutboxServiceImpl {
    pub fn new(outbox: Option<Outbox>) -> OutboxServiceImpl {
        OutboxServiceImpl { outbox }
    }
}

#[tonic::async_trait]
impl OutboxService for OutboxServiceImpl {
    async fn get_outbox_status(
        &self,
        _request: Request<pb::GetOutboxStatusRequest>,
    ) -> Result<Response<pb::OutboxStatus>, Status> {
        let status = match &self.outbox {
            Some(outbox) => outbox
                .status()
                .map_err(|e| crate::error::store_status(&e))?,
            None => pb::OutboxStatus::default(),
        };
        Ok(Response::new(status))
    }
}
