//! A disputed Depth & Breadth document over gRPC: a new revision cannot drop the dispute;
//! DRAFT is a withdrawal, which needs who and why, and is recorded as such.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_proto::v1 as pb;
use meterlab_server::StreamLimits;
use tonic::Code;

fn mt_key() -> pb::DepthBreadthKey {
    pb::DepthBreadthKey {
        release: pb::CapabilityRelease::Ioc.into(),
        smso_id: "smso-a".into(),
        test_type: pb::TestType::Mt.into(),
        regression: false,
    }
}

fn revision(version: &str) -> pb::RegisterDepthBreadthRequest {
    pb::RegisterDepthBreadthRequest {
        document: Some(pb::DepthBreadthDocument {
            key: Some(mt_key()),
            version: version.into(),
            cases: vec![pb::DepthBreadthCase {
                case_id: "MT-001".into(),
                case_content_sha256: vec![7; 32],
                srv: "4.1.1".into(),
                modes: vec![],
            }],
            status: 0,
        }),
        meta: None,
    }
}

fn status(
    status: pb::DepthBreadthStatus,
    version: &str,
    meta: Option<pb::EventMeta>,
) -> pb::SetDepthBreadthStatusRequest {
    pb::SetDepthBreadthStatusRequest {
        key: Some(mt_key()),
        status: status.into(),
        version: version.into(),
        meta,
    }
}

#[tokio::test]
async fn a_dispute_ends_only_by_agreement_referral_or_a_named_withdrawal() {
    let server = TestServer::start(StreamLimits::default()).await;
    setup_governance(&server.client().await).await;
    let mut gov = server.governance().await;
    gov.register_depth_breadth(revision("2")).await.unwrap();
    gov.set_depth_breadth_status(status(pb::DepthBreadthStatus::Disputed, "2", None))
        .await
        .unwrap();

    let redraft = gov.register_depth_breadth(revision("3")).await.unwrap_err();
    assert_eq!(redraft.code(), Code::FailedPrecondition, "{redraft:?}");
    assert!(redraft.message().contains("withdrawal"), "{redraft:?}");

    let unexplained = gov
        .set_depth_breadth_status(status(
            pb::DepthBreadthStatus::Draft,
            "2",
            Some(pb::EventMeta {
                actor: "tag.chair".into(),
                ..Default::default()
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(unexplained.code(), Code::InvalidArgument);
    assert!(
        unexplained.message().contains("meta.reason"),
        "{unexplained:?}"
    );

    // The open test gateway admits every request as the principal `anonymous`, which the
    // withdrawal records as who withdrew it.
    gov.set_depth_breadth_status(status(
        pb::DepthBreadthStatus::Draft,
        "2",
        Some(pb::EventMeta {
            reason: "the SMSO accepted the case list".into(),
            ..Default::default()
        }),
    ))
    .await
    .unwrap();
    // Back in draft: a new revision is accepted and can be agreed.
    gov.register_depth_breadth(revision("3")).await.unwrap();
    gov.set_depth_breadth_status(status(pb::DepthBreadthStatus::Agreed, "3", None))
        .await
        .unwrap();
    server.stop().await;
}
