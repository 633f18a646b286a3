//! Every governance event records the principal that caused it inside the hash chain, and the
//! completion report says who agreed the Depth & Breadth document, who de-scoped each case and
//! who closed each Testing Issue — also after a restart (replayed from the log).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{
    ResultStream, mt_active, reopen_and_check_log, result, setup_governance_with_cases, submit,
};
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_server::serve_config::ServeConfig;
use meterlab_server::{
    ACTOR_FIELD, GOVERNANCE_KIND, Gateway, GatewayConfig, Security, StreamLimits,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const CONFIG: &str = "[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = \"ca.pem\"\n\
    [[principal]]\nname = \"maria\"\nrole = \"test-manager\"\nsubject_cn = \"maria\"\n\
    [[principal]]\nname = \"eddie\"\nrole = \"engineer\"\nsubject_cn = \"eddie\"\n";

async fn as_principal(dir: &std::path::Path, port: u16, name: &str) -> Channel {
    let read = |file: String| std::fs::read(dir.join(file)).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.pem".into())))
        .identity(Identity::from_pem(
            read(format!("{name}.pem")),
            read(format!("{name}.key")),
        ))
        .domain_name("localhost");
    Endpoint::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test]
async fn decisions_name_the_principal_that_recorded_them_inside_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    meterlab_server::dev_certs::generate("lab CA", &["maria", "eddie"])
        .unwrap()
        .write(dir.path())
        .unwrap();
    let config = ServeConfig::parse(&dir.path().join("serve.toml"), CONFIG).unwrap();
    let db = dir.path().join("lab.sqlite");
    let gateway = Gateway::open(GatewayConfig {
        db: db.clone(),
        profile: common::profile(),
        limits: StreamLimits::default(),
        store: Default::default(),
    })
    .await
    .unwrap();
    let listener = meterlab_server::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let security = Security {
        tls: Some(meterlab_server::tls::server_tls_config(config.tls.as_ref().unwrap()).unwrap()),
        principals: Some(Arc::new(config.principals)),
        streams_per_principal: Some(config.streams_per_principal),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.serve_secured(listener, security, async {
        let _ = stopped.await;
    }));

    let mut maria = GovernanceServiceClient::new(as_principal(dir.path(), port, "maria").await);
    let mut eddie = ResultServiceClient::new(as_principal(dir.path(), port, "eddie").await);
    let maria_client = meterlab_client::Client::connect(
        &format!("https://localhost:{port}"),
        &meterlab_client::ConnectOptions {
            ca: Some(dir.path().join("ca.pem")),
            cert: Some(dir.path().join("maria.pem")),
            key: Some(dir.path().join("maria.key")),
            token_file: None,
        },
    )
    .await
    .unwrap();
    setup_governance_with_cases(&maria_client, ["MT-001".to_owned(), "MT-009".to_owned()]).await;
    let (mut stream, _) = ResultStream::open(&mut eddie, "rig-1").await;
    stream
        .send(submit(
            "rig-1",
            1,
            result("MT-001", 1, pb::CaseStatus::Passed),
        ))
        .await;
    stream.ack().await;
    let decision = maria
        .request_descope(pb::RequestDescopeRequest {
            case: Some(pb::CaseRef {
                phase: Some(mt_active()),
                case_id: "MT-009".into(),
            }),
            cited: Some(pb::CitedResult {
                case: Some(pb::CaseRef {
                    phase: Some(mt_active()),
                    case_id: "MT-001".into(),
                }),
                ..Default::default()
            }),
            rationale: "MT-001 covers the same SRV".into(),
            meta: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(decision.accepted, "{decision:?}");
    maria
        .raise_issue(pb::RaiseIssueRequest {
            severity: 3,
            title: "clock drift".into(),
            phases: vec![mt_active()],
            ..Default::default()
        })
        .await
        .unwrap();
    let issue_id = maria
        .list_issues(pb::ListIssuesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .issues[0]
        .id
        .clone();
    maria
        .update_issue(pb::UpdateIssueRequest {
            id: issue_id,
            status: Some(pb::IssueStatus::Closed.into()),
            ..Default::default()
        })
        .await
        .unwrap();

    let report = maria
        .get_completion_report(pb::GetCompletionReportRequest {
            phases: vec![mt_active()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.descopes.len(), 1);
    assert_eq!(report.descopes[0].actor, "maria");
    assert!(report.descopes[0].recorded_at.is_some());
    let decided: Vec<(String, String)> = report
        .decisions
        .iter()
        .map(|d| {
            (
                d.decision.split(' ').next().unwrap().to_owned(),
                d.actor.clone(),
            )
        })
        .collect();
    for kind in ["dnb-agreed", "descoped", "issue-closed"] {
        assert!(
            decided.contains(&(kind.to_owned(), "maria".to_owned())),
            "{kind} by maria missing from {decided:?}"
        );
    }

    drop((maria, eddie, stream));
    let _ = stop.send(());
    task.await.unwrap().unwrap();

    // The principal is in the hashed payload of every governance event, and survives replay.
    let (log, rebuilt) = reopen_and_check_log(db).await;
    let actor_field = format!("\"{ACTOR_FIELD}\":\"maria\"");
    let governance: Vec<_> = log
        .iter()
        .filter(|e| e.payload.kind == GOVERNANCE_KIND)
        .collect();
    assert!(governance.len() > 5);
    for event in governance {
        let body = String::from_utf8_lossy(&event.payload.body);
        assert!(
            body.contains(&actor_field),
            "event #{} has no actor: {body}",
            event.seq
        );
    }
    let replayed: Vec<_> = rebuilt
        .decisions()
        .iter()
        .map(|d| d.actor.as_str())
        .collect();
    assert_eq!(replayed, ["maria"; 3]);
}
