//! DeviceService and RunService on a configured bench: devices with lease state, leases that
//! belong to their principal (another gets PERMISSION_DENIED, an admin may force a release),
//! StartRun refusals that name the field, reflection listing only what is served.

use std::sync::Arc;
use std::time::SystemTime;

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::device_service_client::DeviceServiceClient;
use meterlab_proto::v1::run_service_client::RunServiceClient;
use meterlab_server::auth::token_hash;
use meterlab_server::serve_config::ServeConfig;
use meterlab_server::{Gateway, GatewayConfig, Security, StreamLimits};
use sha2::{Digest as _, Sha256};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const DEVICES: &str = r#"format = 1

[[device]]
name = "esme1"
hub = "hub1"
role = "esme"
dmc = "acme"
smso = "smso-north"
state = "active"
model = "ACME E470"
firmware = "2.0.1"

[device.tcp]
address = "127.0.0.1:9"
wport = 2

[[device.client]]
sap = 16
authentication = "none"

[[device]]
name = "gsme1"
hub = "hub1"
role = "gsme"
dmc = "acme"
smso = "smso-north"
state = "active"
model = "ACME G4"
firmware = "1.0.0"

[device.serial]
path = "/dev/null"
baud = 9600
logical_address = 3
physical_address = 17
address_size = 4

[[device.client]]
sap = 16
authentication = "none"
"#;

const TOKENS: [(&str, &str, &str); 4] = [
    ("vera", "viewer", "tok-vera"),
    ("alice", "engineer", "tok-alice"),
    ("bob", "engineer", "tok-bob"),
    ("root", "admin", "tok-root"),
];

struct Lab {
    _dir: tempfile::TempDir,
    port: u16,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Lab {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for sub in ["plugins", "suites/mt", "dmcs"] {
        std::fs::create_dir_all(root.join(sub)).expect("mkdir");
    }
    std::fs::write(
        root.join("plugins/libadapter.so"),
        b"not loaded by these tests",
    )
    .expect("plugin");
    std::fs::write(root.join("dmcs/acme.toml"), "# a DMC").expect("dmc");
    std::fs::write(root.join("bench.toml"), DEVICES).expect("devices");
    let mut text = format!(
        "plugin_dir = \"plugins\"\ndevices = \"bench.toml\"\nsuites = \"suites\"\ndmcs = \"dmcs\"\n\
         [limits]\nmax_lease_ttl_s = 120\n\
         [[plugin]]\nfile = \"libadapter.so\"\nsha256 = \"{}\"\nsmso = \"smso-north\"\n",
        hex::encode(Sha256::digest(b"not loaded by these tests"))
    );
    for (name, role, token) in TOKENS {
        text += &format!(
            "[[principal]]\nname = \"{name}\"\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n",
            hex::encode(token_hash(token))
        );
    }
    let path = root.join("serve.toml");
    std::fs::write(&path, text).expect("config");
    let config = ServeConfig::load(&path).expect("the serve config loads");
    let gateway = Gateway::open(GatewayConfig {
        db: root.join("lab.sqlite"),
        profile: meterlab_governance::load_profile(
            "illustrative.toml",
            meterlab_governance::profile::ILLUSTRATIVE_TOML,
        )
        .expect("profile"),
        limits: StreamLimits::default(),
        store: Default::default(),
    })
    .await
    .expect("gateway opens")
    .with_limits(config.limits)
    .with_bench(config.bench.clone().expect("a bench"))
    .expect("bench opens");
    let listener = meterlab_server::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let security = Security {
        tls: None,
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
        _dir: dir,
        port,
        stop,
        task,
    }
}

/// Adds a bearer token to every call.
#[derive(Clone)]
struct Bearer(&'static str);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let value = format!("Bearer {}", self.0).parse().expect("header value");
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

async fn as_principal(
    lab: &Lab,
    token: &'static str,
) -> (DeviceServiceClient<Authed>, RunServiceClient<Authed>) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", lab.port))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    (
        DeviceServiceClient::with_interceptor(channel.clone(), Bearer(token)),
        RunServiceClient::with_interceptor(channel, Bearer(token)),
    )
}

fn ttl(secs: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: secs,
        nanos: 0,
    })
}

#[tokio::test]
#[allow(
    clippy::disallowed_methods,
    reason = "a lease's expiry is wall-clock time"
)]
async fn leases_belong_to_their_principal_and_show_in_the_device_list() {
    let lab = start().await;
    let (mut alice, _) = as_principal(&lab, "tok-alice").await;
    let (mut bob, _) = as_principal(&lab, "tok-bob").await;
    let (mut root, _) = as_principal(&lab, "tok-root").await;

    let listed = alice
        .list_devices(pb::ListDevicesRequest::default())
        .await
        .expect("list")
        .into_inner()
        .devices;
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|d| d.state() == pb::DeviceState::Available)
    );
    assert!(matches!(
        listed[1].transport,
        Some(pb::device::Transport::Serial(_))
    ));

    let lease = alice
        .lease_device(pb::LeaseDeviceRequest {
            device_id: "esme1".into(),
            holder: "alice's bench session".into(),
            ttl: ttl(3600),
        })
        .await
        .expect("leased")
        .into_inner()
        .lease
        .expect("a lease");
    let granted = lease.granted_at.expect("granted_at").seconds;
    let expires = lease.expires_at.expect("expires_at").seconds;
    assert_eq!(
        expires - granted,
        120,
        "the ttl is shortened to max_lease_ttl_s"
    );

    let taken = bob
        .lease_device(pb::LeaseDeviceRequest {
            device_id: "esme1".into(),
            holder: "bob".into(),
            ttl: ttl(60),
        })
        .await
        .expect_err("already leased");
    assert_eq!(taken.code(), Code::FailedPrecondition, "{taken:?}");

    let leased = bob
        .list_devices(pb::ListDevicesRequest {
            available_only: false,
            kind: pb::DeviceKind::Esme.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .devices;
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].state(), pb::DeviceState::Leased);
    assert_eq!(
        leased[0].lease.as_ref().map(|l| l.holder.as_str()),
        Some("alice's bench session")
    );

    for denied in [
        bob.renew_lease(pb::RenewLeaseRequest {
            lease_id: lease.lease_id.clone(),
            ttl: None,
        })
        .await
        .map(|_| ()),
        bob.release_device(pb::ReleaseDeviceRequest {
            lease_id: lease.lease_id.clone(),
        })
        .await
        .map(|_| ()),
    ] {
        assert_eq!(
            denied.expect_err("not bob's").code(),
            Code::PermissionDenied
        );
    }
    alice
        .renew_lease(pb::RenewLeaseRequest {
            lease_id: lease.lease_id.clone(),
            ttl: None,
        })
        .await
        .expect("the owner renews");
    // A renewal may change the ttl, within max_lease_ttl_s; later renewals keep the new one.
    for (asked, granted) in [(Some(30), 30), (None, 30), (Some(3600), 120)] {
        let renewed = alice
            .renew_lease(pb::RenewLeaseRequest {
                lease_id: lease.lease_id.clone(),
                ttl: asked.and_then(ttl),
            })
            .await
            .expect("the owner renews with a ttl")
            .into_inner()
            .lease
            .expect("a lease");
        let left = SystemTime::try_from(renewed.expires_at.expect("expires_at"))
            .expect("time")
            .duration_since(SystemTime::now())
            .expect("in the future")
            .as_secs();
        assert!(
            (granted - 2..=granted).contains(&left),
            "renewed with {asked:?}: expires in {left} s, not about {granted} s"
        );
    }
    let zero = alice
        .renew_lease(pb::RenewLeaseRequest {
            lease_id: lease.lease_id.clone(),
            ttl: ttl(0),
        })
        .await
        .expect_err("a zero ttl");
    assert_eq!(zero.code(), Code::InvalidArgument);
    assert!(zero.message().contains("ttl"), "{zero:?}");
    root.release_device(pb::ReleaseDeviceRequest {
        lease_id: lease.lease_id.clone(),
    })
    .await
    .expect("an admin forces the release");
    let gone = alice
        .renew_lease(pb::RenewLeaseRequest {
            lease_id: lease.lease_id.clone(),
            ttl: None,
        })
        .await
        .expect_err("released");
    assert_eq!(gone.code(), Code::NotFound);
    bob.lease_device(pb::LeaseDeviceRequest {
        device_id: "esme1".into(),
        holder: "bob".into(),
        ttl: ttl(60),
    })
    .await
    .expect("free again");

    for (request, field) in [
        (
            pb::LeaseDeviceRequest {
                device_id: "gsme1".into(),
                holder: " ".into(),
                ttl: ttl(5),
            },
            "holder",
        ),
        (
            pb::LeaseDeviceRequest {
                device_id: "gsme1".into(),
                holder: "x".into(),
                ttl: None,
            },
            "ttl",
        ),
    ] {
        let refused = bob.lease_device(request).await.expect_err("invalid");
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(refused.message().contains(field), "{refused:?}");
    }
    let unknown = bob
        .lease_device(pb::LeaseDeviceRequest {
            device_id: "nope".into(),
            holder: "x".into(),
            ttl: ttl(5),
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);
    let _ = lab.stop.send(());
    lab.task.await.expect("gateway task");
}

#[tokio::test]
async fn start_run_refusals_name_what_is_wrong() {
    let lab = start().await;
    let (_, mut runs) = as_principal(&lab, "tok-alice").await;
    let phase = pb::PhaseKey {
        entry: Some(pb::EntryKey {
            release: pb::CapabilityRelease::Moc.into(),
            smso_id: "smso-north".into(),
            dmc_id: "acme".into(),
        }),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    };
    let unplanned = runs
        .start_run(pb::StartRunRequest {
            suite: "mt".into(),
            phase: Some(phase.clone()),
            ..Default::default()
        })
        .await
        .expect_err("the phase is not planned");
    assert_eq!(unplanned.code(), Code::FailedPrecondition);
    assert!(
        unplanned.message().contains("not registered"),
        "{unplanned:?}"
    );
    let no_phase = runs
        .start_run(pb::StartRunRequest {
            suite: "mt".into(),
            ..Default::default()
        })
        .await
        .expect_err("no phase");
    assert_eq!(no_phase.code(), Code::InvalidArgument);
    assert!(no_phase.message().contains("phase"), "{no_phase:?}");
    let unknown = runs
        .get_run(pb::GetRunRequest {
            run_id: "nope".into(),
        })
        .await
        .expect_err("no such run");
    assert_eq!(unknown.code(), Code::NotFound);
    let _ = lab.stop.send(());
    lab.task.await.expect("gateway task");
}

#[tokio::test]
async fn reflection_lists_exactly_the_served_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let lab = start().await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", lab.port))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut client =
        ServerReflectionClient::with_interceptor(channel, |mut r: tonic::Request<()>| {
            r.metadata_mut()
                .insert("authorization", "Bearer tok-alice".parse().expect("header"));
            Ok(r)
        });
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("answer")
        .expect("a response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("not a service list: {response:?}");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "meterlab.v1.DeviceService",
            "meterlab.v1.GovernanceService",
            "meterlab.v1.OutboxService",
            "meterlab.v1.ResultService",
            "meterlab.v1.RunService",
        ]
    );
    let _ = lab.stop.send(());
    lab.task.await.expect("gateway task");
}

/// The code of one call, or OK.
fn code<T>(result: Result<tonic::Response<T>, tonic::Status>) -> Code {
    result.map_or_else(|status| status.code(), |_| Code::Ok)
}

#[tokio::test]
async fn every_device_and_run_rpc_is_authorised_by_the_table() {
    use meterlab_server::auth::{Role, Rule, rule_for};

    let lab = start().await;
    for (token, role) in [
        ("tok-vera", Role::Viewer),
        ("tok-alice", Role::Engineer),
        ("tok-root", Role::Admin),
        ("tok-unknown", Role::Viewer),
    ] {
        let (mut devices, mut runs) = as_principal(&lab, token).await;
        let calls = [
            (
                "/meterlab.v1.DeviceService/ListDevices",
                code(
                    devices
                        .list_devices(pb::ListDevicesRequest::default())
                        .await,
                ),
            ),
            (
                "/meterlab.v1.DeviceService/LeaseDevice",
                code(
                    devices
                        .lease_device(pb::LeaseDeviceRequest::default())
                        .await,
                ),
            ),
            (
                "/meterlab.v1.DeviceService/RenewLease",
                code(devices.renew_lease(pb::RenewLeaseRequest::default()).await),
            ),
            (
                "/meterlab.v1.DeviceService/ReleaseDevice",
                code(
                    devices
                        .release_device(pb::ReleaseDeviceRequest::default())
                        .await,
                ),
            ),
            (
                "/meterlab.v1.RunService/StartRun",
                code(runs.start_run(pb::StartRunRequest::default()).await),
            ),
            (
                "/meterlab.v1.RunService/WatchRun",
                code(runs.watch_run(pb::WatchRunRequest::default()).await),
            ),
            (
                "/meterlab.v1.RunService/CancelRun",
                code(runs.cancel_run(pb::CancelRunRequest::default()).await),
            ),
            (
                "/meterlab.v1.RunService/GetRun",
                code(runs.get_run(pb::GetRunRequest::default()).await),
            ),
            (
                "/meterlab.v1.RunService/ListRuns",
                code(runs.list_runs(pb::ListRunsRequest::default()).await),
            ),
            (
                "/meterlab.v1.DeviceService/CheckHealth",
                code(
                    devices
                        .check_health(pb::CheckHealthRequest::default())
                        .await,
                ),
            ),
        ];
        for (path, got) in calls {
            let Some(Rule::AtLeast(needed)) = rule_for(path) else {
                panic!("{path} is not in the authorisation table");
            };
            if token == "tok-unknown" {
                assert_eq!(got, Code::Unauthenticated, "{path} with an unknown token");
            } else if role < needed {
                assert_eq!(got, Code::PermissionDenied, "{path} as {role}");
            } else {
                assert!(
                    !matches!(
                        got,
                        Code::PermissionDenied | Code::Unauthenticated | Code::Unimplemented
                    ),
                    "{path} as {role}: {got:?}"
                );
            }
        }
    }
    let _ = lab.stop.send(());
    lab.task.await.expect("gateway task");
}
