//! The RunService RPCs over the [`RunManager`].

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::run_service_server::RunService;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use super::RunManager;
use crate::bench::principal_of;

/// The RunService implementation.
#[derive(Debug, Clone)]
pub struct RunServiceImpl {
    manager: Arc<RunManager>,
}

impl RunServiceImpl {
    pub fn new(manager: Arc<RunManager>) -> Self {
        Self { manager }
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::RunEvent, Status>> + Send>>;

#[tonic::async_trait]
impl RunService for RunServiceImpl {
    type WatchRunStream = EventStream;

    async fn start_run(
        &self,
        request: Request<pb::StartRunRequest>,
    ) -> Result<Response<pb::StartRunResponse>, Status> {
        let caller = principal_of(&request);
        let run_id = self.manager.start(&caller, request.into_inner()).await?;
        Ok(Response::new(pb::StartRunResponse { run_id }))
    }

    async fn watch_run(
        &self,
        request: Request<pb::WatchRunRequest>,
    ) -> Result<Response<Self::WatchRunStream>, Status> {
        let r = request.into_inner();
        let record = self.manager.run(&r.run_id)?;
        let stopping = self.manager.stopping.clone();
        let (out, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut progress = record.progress.subscribe();
            let mut cursor = r.after_seq;
            loop {
                let pending: Vec<pb::RunEvent> = {
                    let inner = record.inner();
                    let start = inner.events.partition_point(|e| e.seq <= cursor);
                    inner.events[start..].to_vec()
                };
                let mut finished = false;
                for event in pending {
                    cursor = event.seq;
                    finished |= matches!(event.event, Some(pb::run_event::Event::Finished(_)));
                    tokio::select! {
                        sent = out.send(Ok(event)) => if sent.is_err() { return },
                        () = stopping.cancelled() => return,
                    }
                }
                // A watcher that resumes after the last event gets the stream's end at once.
                if finished || (progress.borrow().1 && cursor >= progress.borrow().0) {
                    return;
                }
                tokio::select! {
                    changed = progress.changed() => if changed.is_err() { return },
                    () = stopping.cancelled() => {
                        let _ = out.try_send(Err(Status::unavailable(
                            "the gateway is shutting down; watch again from the last seq",
                        )));
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn cancel_run(
        &self,
        request: Request<pb::CancelRunRequest>,
    ) -> Result<Response<pb::CancelRunResponse>, Status> {
        let caller = principal_of(&request);
        let r = request.into_inner();
        let record = self.manager.run(&r.run_id)?;
        let state = {
            let mut inner = record.inner();
            if inner.is_active() {
                let reason = if r.reason.trim().is_empty() {
                    format!("cancelled by {}", caller.name)
                } else {
                    format!("cancelled by {}: {}", caller.name, r.reason.trim())
                };
                inner.cancel_requested.get_or_insert(reason);
                if let Some(cancel) = &inner.cancel {
                    cancel.cancel();
                }
                inner.cancelled.cancel();
                tracing::info!(run = %r.run_id, principal = %caller.name, "run cancel requested");
            }
            inner.state
        };
        Ok(Response::new(pb::CancelRunResponse {
            state: state.into(),
        }))
    }

    async fn get_run(
        &self,
        request: Request<pb::GetRunRequest>,
    ) -> Result<Response<pb::RunSummary>, Status> {
        let record = self.manager.run(&request.into_inner().run_id)?;
        Ok(Response::new(record.summary()))
    }

    async fn list_runs(
        &self,
        request: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        const DEFAULT_LIMIT: usize = 100;
        let r = request.into_inner();
        let limit = match r.limit {
            0 => DEFAULT_LIMIT,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let state = pb::RunState::try_from(r.state).map_err(|_| {
            Status::invalid_argument(format!(
                "invalid field state: {} is not a run state",
                r.state
            ))
        })?;
        Ok(Response::new(pb::ListRunsResponse {
            runs: self.manager.list(state, limit),
        }))
    }
}
