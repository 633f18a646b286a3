//! Who may do what, over real TLS on a loopback socket: every RPC of every served service
//! (from the compiled descriptor set, so a new RPC cannot be missed) is called with no
//! credentials, with each role's token, with a client certificate, with an expired and a
//! revoked token, with a certificate of an unknown subject and with one from another CA.

use std::path::Path;
use std::sync::Arc;

use meterlab_proto::v1 as pb;
use meterlab_server::auth::{Role, Rule, rule_for, token_hash};
use meterlab_server::serve_config::ServeConfig;
use meterlab_server::{Gateway, GatewayConfig, Security, StreamLimits};
use prost::Message as _;
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

const ROLE_TOKENS: [(Role, &str); 4] = [
    (Role::Viewer, "tok-viewer"),
    (Role::Engineer, "tok-engineer"),
    (Role::TestManager, "tok-manager"),
    (Role::Admin, "tok-admin"),
];

fn config_text() -> String {
    let mut text = String::from(
        "[tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = \"ca.pem\"\n\
         [limits]\nstreams_per_principal = 2\n",
    );
    for (role, token) in ROLE_TOKENS {
        text += &format!(
            "[[principal]]\nname = \"{role}-user\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n",
            hex::encode(token_hash(token))
        );
    }
    text += &format!(
        "[[principal]]\nname = \"old\"\nrole = \"admin\"\ntoken_sha256 = \"{}\"\n\
         expires = 2020-01-01T00:00:00Z\n",
        hex::encode(token_hash("tok-expired"))
    );
    text += &format!(
        "[[principal]]\nname = \"fired\"\nrole = \"admin\"\ntoken_sha256 = \"{}\"\nrevoked = true\n",
        hex::encode(token_hash("tok-revoked"))
    );
    text += "[[principal]]\nname = \"ci\"\nrole = \"engineer\"\nsubject_cn = \"ci-runner\"\n";
    text
}

/// Every served RPC: the meterlab services the gateway serves, health and reflection.
fn served_rpcs() -> Vec<String> {
    let mut paths = Vec::new();
    let set = prost_types::FileDescriptorSet::decode(meterlab_proto::FILE_DESCRIPTOR_SET)
        .expect("descriptor set decodes");
    for file in &set.file {
        for service in &file.service {
            let full = format!("{}.{}", file.package(), service.name());
            if full == "meterlab.v1.ResultService" || full == "meterlab.v1.GovernanceService" {
                for method in &service.method {
                    paths.push(format!("/{full}/{}", method.name()));
                }
            }
        }
    }
    paths.push("/grpc.health.v1.Health/Check".to_owned());
    paths.push("/grpc.health.v1.Health/Watch".to_owned());
    paths.push("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo".to_owned());
    paths
}

struct Lab {
    dir: tempfile::TempDir,
    port: u16,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Lab {
    let dir = tempfile::tempdir().expect("temp dir");
    meterlab_server::dev_certs::generate("lab CA", &["ci-runner", "stranger"])
        .expect("certificates")
        .write(dir.path())
        .expect("certificates written");
    let foreign = dir.path().join("foreign");
    meterlab_server::dev_certs::generate("other CA", &["ci-runner"])
        .expect("certificates")
        .write(&foreign)
        .expect("certificates written");
    let config = ServeConfig::parse(&dir.path().join("serve.toml"), &config_text())
        .expect("the serve config is valid");
    let tls = meterlab_server::tls::server_tls_config(config.tls.as_ref().expect("[tls]"))
        .expect("TLS config");
    let gateway = Gateway::open(GatewayConfig {
        db: dir.path().join("lab.sqlite"),
        profile: meterlab_governance::load_profile(
            "illustrative.toml",
            meterlab_governance::profile::ILLUSTRATIVE_TOML,
        )
        .expect("profile"),
        limits: StreamLimits::default(),
        store: Default::default(),
    })
    .await
    .expect("gateway opens");
    let listener = meterlab_server::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let security = Security {
        tls: Some(tls),
        principals: Some(Arc::new(config.principals)),
        streams_per_principal: Some(config.streams_per_principal),
    };
    let task = tokio::spawn(async move {
        gateway
            .serve_secured(listener, security, async {
                let _ = stopped.await;
            })
            .await
            .expect("gateway serves");
    });
    Lab {
        dir,
        port,
        stop,
        task,
    }
}

async fn channel(
    lab: &Lab,
    ca_dir: &Path,
    client: Option<(&Path, &str)>,
) -> Result<Channel, tonic::transport::Error> {
    let ca = std::fs::read(ca_dir.join("ca.pem")).expect("ca.pem");
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some((dir, name)) = client {
        let cert = std::fs::read(dir.join(format!("{name}.pem"))).expect("client cert");
        let key = std::fs::read(dir.join(format!("{name}.key"))).expect("client key");
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Endpoint::from_shared(format!("https://localhost:{}", lab.port))
        .expect("url")
        .tls_config(tls)?
        .connect()
        .await
}

/// Calls `path` with one empty message and returns the status code the call ended with
/// (`Ok` when the service answered with headers, i.e. it was let in).
async fn call(channel: &Channel, path: &str, token: Option<&str>) -> (Code, String) {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("channel ready");
    let mut request = tonic::Request::new(tokio_stream::iter(vec![()]));
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    let path = path.parse().expect("path");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    match grpc.streaming(request, path, codec).await {
        Ok(_) => (Code::Ok, String::new()),
        Err(status) => (status.code(), status.message().to_owned()),
    }
}

fn is_refusal(code: Code) -> bool {
    matches!(code, Code::Unauthenticated | Code::PermissionDenied)
}

#[tokio::test]
async fn every_rpc_is_refused_or_allowed_per_the_table_for_every_kind_of_caller() {
    let lab = start().await;
    let rpcs = served_rpcs();
    assert!(rpcs.len() > 20, "{rpcs:?}");
    let plain = channel(&lab, lab.dir.path(), None)
        .await
        .expect("TLS connect");
    let mut failures = Vec::new();

    for path in &rpcs {
        let rule = rule_for(path);
        let (code, message) = call(&plain, path, None).await;
        match rule {
            Some(Rule::Public) if is_refusal(code) => {
                failures.push(format!("{path} public: {code:?}"))
            }
            Some(Rule::AtLeast(_)) if code != Code::Unauthenticated => {
                failures.push(format!("{path} without credentials: {code:?} {message}"))
            }
            None => failures.push(format!("{path} has no rule")),
            _ => {}
        }
        for (role, token) in ROLE_TOKENS {
            let (code, message) = call(&plain, path, Some(token)).await;
            let allowed = matches!(rule, Some(Rule::Public))
                || matches!(rule, Some(Rule::AtLeast(needed)) if role >= needed);
            let ok = if allowed {
                !is_refusal(code)
            } else {
                code == Code::PermissionDenied && message.contains("needs role")
            };
            if !ok {
                failures.push(format!("{path} as {role}: {code:?} {message}"));
            }
        }
        for (token, why) in [
            ("tok-expired", "expired"),
            ("tok-revoked", "revoked"),
            ("nonsense", "unknown"),
        ] {
            let (code, message) = call(&plain, path, Some(token)).await;
            let ok = match rule {
                Some(Rule::Public) => !is_refusal(code),
                _ => code == Code::Unauthenticated && message.contains(why),
            };
            if !ok {
                failures.push(format!("{path} with {why} token: {code:?} {message}"));
            }
        }
    }

    // mutual TLS: the certificate's subject is the principal (engineer).
    let ci = channel(&lab, lab.dir.path(), Some((lab.dir.path(), "ci-runner")))
        .await
        .expect("mTLS connect");
    let stranger = channel(&lab, lab.dir.path(), Some((lab.dir.path(), "stranger")))
        .await
        .expect("mTLS connect");
    for path in &rpcs {
        let rule = rule_for(path);
        let (code, message) = call(&ci, path, None).await;
        let allowed = matches!(rule, Some(Rule::Public))
            || matches!(rule, Some(Rule::AtLeast(needed)) if Role::Engineer >= needed);
        if allowed == is_refusal(code) {
            failures.push(format!(
                "{path} as ci-runner certificate: {code:?} {message}"
            ));
        }
        let (code, message) = call(&stranger, path, None).await;
        if rule != Some(Rule::Public)
            && !(code == Code::Unauthenticated && message.contains("CN=stranger"))
        {
            failures.push(format!("{path} as unknown subject: {code:?} {message}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // A certificate from another CA never gets a call through.
    let foreign = lab.dir.path().join("foreign");
    let refused = match channel(&lab, lab.dir.path(), Some((&foreign, "ci-runner"))).await {
        Err(_) => true,
        Ok(channel) => {
            let (code, _) = call(&channel, "/meterlab.v1.GovernanceService/ListIssues", None).await;
            code == Code::Unavailable || code == Code::Unknown
        }
    };
    assert!(refused, "a certificate from another CA was accepted");

    let _ = lab.stop.send(());
    lab.task.await.expect("gateway stops");
}

#[tokio::test]
async fn plaintext_clients_cannot_talk_to_a_tls_gateway() {
    let lab = start().await;
    let plaintext = Endpoint::from_shared(format!("http://127.0.0.1:{}", lab.port))
        .expect("url")
        .connect()
        .await;
    if let Ok(channel) = plaintext {
        let (code, _) = call(&channel, "/grpc.health.v1.Health/Check", None).await;
        assert!(!matches!(code, Code::Ok), "plaintext call succeeded");
    }
    let _ = lab.stop.send(());
    lab.task.await.expect("gateway stops");
}

type ResultClient = meterlab_proto::v1::result_service_client::ResultServiceClient<
    InterceptedService<Channel, Bearer>,
>;

#[derive(Clone)]
struct Bearer(&'static str);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let value = format!("Bearer {}", self.0).parse().expect("header");
        r.metadata_mut().insert("authorization", value);
        Ok(r)
    }
}

struct OpenStream {
    tx: tokio::sync::mpsc::Sender<pb::ResultStreamRequest>,
    rx: tonic::Streaming<pb::ResultStreamResponse>,
}

async fn open_stream(client: &mut ResultClient, source: &str) -> Result<OpenStream, tonic::Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let rx = client
        .stream_results(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut stream = OpenStream { tx, rx };
    stream.open(source).await;
    Ok(stream)
}

impl OpenStream {
    /// Sends `open` and waits for the answer: the stream is working.
    async fn open(&mut self, source: &str) {
        let open = pb::ResultStreamRequest {
            kind: Some(pb::result_stream_request::Kind::Open(pb::OpenStream {
                source: source.into(),
            })),
        };
        self.tx.send(open).await.expect("stream open");
        let answer = self.rx.message().await.expect("answer").expect("a message");
        assert!(answer.kind.is_some(), "{answer:?}");
    }
}

#[tokio::test]
async fn a_principal_at_its_stream_limit_is_refused_while_its_open_streams_keep_working() {
    let lab = start().await;
    let channel = channel(&lab, lab.dir.path(), None)
        .await
        .expect("TLS connect");
    let mut engineer = ResultClient::new(InterceptedService::new(
        channel.clone(),
        Bearer("tok-engineer"),
    ));
    let mut admin = ResultClient::new(InterceptedService::new(channel, Bearer("tok-admin")));

    let mut first = open_stream(&mut engineer, "rig-1")
        .await
        .expect("first stream");
    let _second = open_stream(&mut engineer, "rig-2")
        .await
        .expect("second stream");
    let third = open_stream(&mut engineer, "rig-3")
        .await
        .err()
        .expect("third refused");
    assert_eq!(third.code(), Code::ResourceExhausted, "{third:?}");
    assert!(third.message().contains("engineer-user"), "{third:?}");

    // Other principals and the principal's open streams are unaffected.
    let _other = open_stream(&mut admin, "rig-9")
        .await
        .expect("another principal");
    first.open("rig-1b").await;

    // Closing a stream gives its slot back.
    drop(first);
    let mut reopened = None;
    for _ in 0..1000 {
        match open_stream(&mut engineer, "rig-4").await {
            Ok(stream) => {
                reopened = Some(stream);
                break;
            }
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted);
                tokio::task::yield_now().await;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
    assert!(
        reopened.is_some(),
        "the closed stream's slot was never released"
    );
    drop(reopened);
    let _ = lab.stop.send(());
    lab.task.await.expect("gateway stops");
}

#[tokio::test]
async fn an_oversized_request_is_refused_and_the_connections_other_streams_keep_working() {
    let lab = start().await;
    let channel = channel(&lab, lab.dir.path(), None)
        .await
        .expect("TLS connect");
    let mut engineer = ResultClient::new(InterceptedService::new(
        channel.clone(),
        Bearer("tok-engineer"),
    ));
    let mut stream = open_stream(&mut engineer, "rig-1").await.expect("stream");
    let mut manager = meterlab_proto::v1::governance_service_client::GovernanceServiceClient::new(
        InterceptedService::new(channel, Bearer("tok-manager")),
    )
    .max_encoding_message_size(usize::MAX);
    let oversized = manager
        .raise_issue(pb::RaiseIssueRequest {
            severity: 3,
            title: "huge".into(),
            description: "x".repeat(meterlab_server::MAX_GOVERNANCE_MESSAGE_BYTES + 1),
            ..Default::default()
        })
        .await
        .expect_err("oversized request refused");
    assert_eq!(oversized.code(), Code::ResourceExhausted, "{oversized:?}");
    assert!(oversized.message().contains("too large"), "{oversized:?}");
    // The same connection still serves the open stream and new calls.
    stream.open("rig-1b").await;
    manager
        .list_issues(pb::ListIssuesRequest::default())
        .await
        .expect("a normal call on the same connection");
    drop(stream);
    let _ = lab.stop.send(());
    lab.task.await.expect("gateway stops");
}
