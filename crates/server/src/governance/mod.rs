//! GovernanceService: governance RPCs as events appended durably to the log, then projected;
//! evaluations read the live projection and never write.

mod changes;
mod evaluate;
mod export;
mod write;

use std::sync::Arc;

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_server::GovernanceService;
use meterlab_store::Ack;
use tonic::{Request, Response, Status};

use crate::evidence::EvidenceStore;
use crate::ledger::Ledger;

pub use export::{EXPORT_MESSAGE_BYTES, report_title};

/// The GovernanceService implementation.
#[derive(Debug, Clone)]
pub struct GovernanceServiceImpl {
    ledger: Arc<Ledger>,
    /// The evidence documents of the gateway's own runs, which ExportResults sends with their
    /// results; `None`: the export carries results only.
    evidence: Option<Arc<EvidenceStore>>,
}

impl GovernanceServiceImpl {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        GovernanceServiceImpl {
            ledger,
            evidence: None,
        }
    }

    /// Exports carry the documents `evidence` keeps for their results.
    pub fn with_evidence(mut self, evidence: Arc<EvidenceStore>) -> Self {
        self.evidence = Some(evidence);
        self
    }
}

fn recorded(ack: &Ack) -> pb::RecordedEvent {
    pb::RecordedEvent {
        log_position: ack.global_seq,
        event_sha256: ack.hash.to_vec(),
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// The principal the authorisation layer admitted the request as, recorded with every event it
/// appends; empty when the service is called without the layer (nothing is then recorded).
fn caller<T>(request: &Request<T>) -> String {
    request
        .extensions()
        .get::<crate::auth::Principal>()
        .map(|p| p.name.clone())
        .unwrap_or_default()
}

#[tonic::async_trait]
impl GovernanceService for GovernanceServiceImpl {
    type ExportResultsStream = export::ExportStream;

    async fn register_entry(
        &self,
        r: Request<pb::RegisterEntryRequest>,
    ) -> Reply<pb::RegisterEntryResponse> {
        let actor = caller(&r);
        self.register_entry_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn register_phase(
        &self,
        r: Request<pb::RegisterPhaseRequest>,
    ) -> Reply<pb::RecordedEvent> {
        let actor = caller(&r);
        self.register_phase_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn start_phase(
        &self,
        r: Request<pb::StartPhaseRequest>,
    ) -> Reply<pb::StartPhaseResponse> {
        let actor = caller(&r);
        self.start_phase_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn amend_timetable(
        &self,
        r: Request<pb::AmendTimetableRequest>,
    ) -> Reply<pb::RecordedEvent> {
        let actor = caller(&r);
        self.amend_timetable_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn define_cycle(&self, r: Request<pb::DefineCycleRequest>) -> Reply<pb::RecordedEvent> {
        let actor = caller(&r);
        self.define_cycle_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn register_depth_breadth(
        &self,
        r: Request<pb::RegisterDepthBreadthRequest>,
    ) -> Reply<pb::RecordedEvent> {
        let actor = caller(&r);
        self.register_depth_breadth_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn set_depth_breadth_status(
        &self,
        r: Request<pb::SetDepthBreadthStatusRequest>,
    ) -> Reply<pb::RecordedEvent> {
        let actor = caller(&r);
        self.set_depth_breadth_status_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn raise_issue(&self, r: Request<pb::RaiseIssueRequest>) -> Reply<pb::TestingIssue> {
        let actor = caller(&r);
        self.raise_issue_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn update_issue(&self, r: Request<pb::UpdateIssueRequest>) -> Reply<pb::TestingIssue> {
        let actor = caller(&r);
        self.update_issue_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn list_issues(
        &self,
        r: Request<pb::ListIssuesRequest>,
    ) -> Reply<pb::ListIssuesResponse> {
        self.list_issues_impl(r.into_inner()).map(Response::new)
    }
    async fn request_descope(
        &self,
        r: Request<pb::RequestDescopeRequest>,
    ) -> Reply<pb::DescopeDecision> {
        let actor = caller(&r);
        self.request_descope_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn record_regression_run(
        &self,
        r: Request<pb::RecordRegressionRunRequest>,
    ) -> Reply<pb::RecordedEvent> {
        let actor = caller(&r);
        self.record_regression_run_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn record_dmc_change(
        &self,
        r: Request<pb::RecordDmcChangeRequest>,
    ) -> Reply<pb::RecordDmcChangeResponse> {
        let actor = caller(&r);
        self.record_dmc_change_impl(r.into_inner(), &actor)
            .await
            .map(Response::new)
    }
    async fn evaluate_phase(&self, r: Request<pb::EvaluatePhaseRequest>) -> Reply<pb::Verdict> {
        self.evaluate_phase_impl(r.into_inner()).map(Response::new)
    }
    async fn evaluate_entry(&self, r: Request<pb::EvaluateEntryRequest>) -> Reply<pb::Verdict> {
        self.evaluate_entry_impl(r.into_inner()).map(Response::new)
    }
    async fn evaluate_cycle(&self, r: Request<pb::EvaluateCycleRequest>) -> Reply<pb::Verdict> {
        self.evaluate_cycle_impl(r.into_inner()).map(Response::new)
    }
    async fn what_if(&self, r: Request<pb::WhatIfRequest>) -> Reply<pb::WhatIfResponse> {
        self.what_if_impl(r.into_inner()).map(Response::new)
    }
    async fn get_completion_report(
        &self,
        r: Request<pb::GetCompletionReportRequest>,
    ) -> Reply<pb::CompletionReport> {
        self.completion_report_impl(r.into_inner())
            .map(Response::new)
    }
    async fn export_results(
        &self,
        r: Request<pb::ExportResultsRequest>,
    ) -> Reply<Self::ExportResultsStream> {
        self.export_results_impl(r.into_inner())
            .await
            .map(Response::new)
    }
}
