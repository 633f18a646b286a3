//! The built `.so` loaded through `meterlab-plugin-host`, on a real PTY serial line (a
//! `meterlab-link` serial link, so `ReconfigureLink` really changes the line and its pacing)
//! against the emulator's optical port: every supported SRV, and a refusal; and the same
//! register read over DLMS (the TCP wrapper) and over the optical port of one meter, compared.
//! Real time: the exchanges start at 300 baud, so each request takes about a second.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use meterlab_emulator::hub::Emulation;
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::optical::{LineLog, OpticalDevice, optical_devices, serve_optical};
use meterlab_emulator::time::SimTime;
use meterlab_link::{LineSettings, SerialLink};
use meterlab_plugin::pb::{
    EnableSupply, LinkKind, ReadDeviceConfigurationMpxn, ReadFirmwareVersion,
    ReadInstantaneousImportRegisters, ServiceRequest, ServiceResponse, SessionConfig, Srv,
    SynchroniseClock, service_error::Kind, service_request::Body, service_response::Outcome,
};
use meterlab_plugin_host::{DeviceLink, HostConfig, Plugin, PluginHost, Session};

const DEADLINE: Duration = Duration::from_secs(30);
const DMC_ID: &str = "acme-ch1-e470p-g4";

fn plugin() -> Arc<Plugin> {
    let exe = std::env::current_exe().expect("test executable");
    let deps: PathBuf = exe.parent().expect("deps directory").to_owned();
    let file = format!(
        "{}meterlab_iec62056_21_adapter{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    assert!(
        deps.join(&file).is_file(),
        "{file} not built in {}",
        deps.display()
    );
    let host = PluginHost::new(HostConfig {
        plugin_dir: deps,
        pins: HashMap::new(),
    })
    .expect("plugin host");
    host.load(&file).expect("the adapter loads")
}

struct Bench {
    emulator: Emulator,
    port: OpticalDevice,
    log: LineLog,
    session: Session<DeviceLink<SerialLink>>,
}

async fn bench(password: Option<&str>) -> Bench {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../suites/scenarios/optical.toml"
    );
    let scenario = Scenario::load(std::path::Path::new(path)).expect("scenario");
    let start = SimTime::from_millis(1_796_611_085_000);
    let emulation = Emulation::build(&scenario, start).expect("builds");
    let port = optical_devices(&scenario, &emulation).remove(0);
    let emulator = Emulator::new(emulation, start);
    let (device_end, host_end) = tokio_serial::SerialStream::pair().expect("a PTY pair");
    let log = LineLog::default();
    tokio::spawn(serve_optical(
        emulator.clone(),
        port.clone(),
        device_end,
        log.clone(),
    ));
    let settings = LineSettings::seven_e_one(300);
    let link = DeviceLink::new(
        SerialLink::from_stream(host_end, "optical", settings, true),
        Some(settings),
    );
    let dmc = meterlab_dmc::SHIPPED
        .iter()
        .find(|(id, _)| *id == DMC_ID)
        .map(|(_, text)| (*text).to_owned())
        .expect("shipped");
    let mut parameters = HashMap::from([
        ("dmc".to_owned(), dmc),
        ("device_address".to_owned(), port.config.address.clone()),
    ]);
    if let Some(password) = password {
        parameters.insert("password".to_owned(), password.to_owned());
    }
    let config = SessionConfig {
        session_id: "pty".to_owned(),
        smso_id: "smso-north".to_owned(),
        dmc_id: DMC_ID.to_owned(),
        device_id: port.name.clone(),
        link_kind: LinkKind::Serial.into(),
        line: None,
        parameters,
    };
    let session = Session::open(&plugin(), &config, link)
        .await
        .expect("session opens");
    Bench {
        emulator,
        port,
        log,
        session,
    }
}

impl Bench {
    async fn execute(&mut self, body: Body) -> ServiceResponse {
        let request = ServiceRequest {
            request_id: "r".to_owned(),
            body: Some(body),
        };
        self.session
            .execute(&request, DEADLINE)
            .await
            .expect("answered")
    }

    fn register_wh(&self) -> u64 {
        let (_, now) = self.emulator.clock().now();
        let mut hub = self.emulator.hub(self.port.at.hub).expect("hub");
        hub.devices[self.port.at.device]
            .device
            .register(now)
            .expect("a meter")
    }

    fn device_time_ms(&self) -> i64 {
        let (_, now) = self.emulator.clock().now();
        let hub = self.emulator.hub(self.port.at.hub).expect("hub");
        hub.devices[self.port.at.device].device.device_time(now).0
    }
}

fn outcome(response: ServiceResponse) -> Outcome {
    match response.outcome {
        Some(Outcome::Error(error)) => panic!("request failed: {error:?}"),
        Some(outcome) => outcome,
        None => panic!("empty response"),
    }
}

#[tokio::test]
async fn readout_over_a_pty_answers_every_read_srv_from_the_device_model() {
    let mut bench = bench(None).await;
    let before = bench.register_wh();
    let Outcome::InstantaneousImportRegisters(registers) = outcome(
        bench
            .execute(Body::ReadInstantaneousImportRegisters(
                ReadInstantaneousImportRegisters {},
            ))
            .await,
    ) else {
        panic!("wrong outcome");
    };
    let after = bench.register_wh();
    let total = registers.total_import.expect("a total");
    // kWh with three decimals: exactly the Wh the DLMS register holds.
    assert_eq!(total.scaler, -3);
    let read = u64::try_from(total.value).expect("positive");
    assert!(
        (before..=after).contains(&read),
        "{before} <= {read} <= {after}"
    );
    assert!((registers.device_time_ms - bench.device_time_ms()).abs() < 5_000);

    let Outcome::DeviceConfigurationMpxn(mpxn) = outcome(
        bench
            .execute(Body::ReadDeviceConfigurationMpxn(
                ReadDeviceConfigurationMpxn {},
            ))
            .await,
    ) else {
        panic!("wrong outcome");
    };
    assert_eq!(mpxn.mpxn, "1200012345678");
    let Outcome::FirmwareVersion(version) = outcome(
        bench
            .execute(Body::ReadFirmwareVersion(ReadFirmwareVersion {}))
            .await,
    ) else {
        panic!("wrong outcome");
    };
    assert_eq!(version.version, "2.0.1");

    // Every identification at 300 baud, every readout at 9600: the switch reached the line.
    let log = bench.log.entries();
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(
        log.iter().step_by(2).all(|(baud, _)| *baud == 300),
        "{log:?}"
    );
    assert!(
        log.iter().skip(1).step_by(2).all(|(baud, _)| *baud == 9600),
        "{log:?}"
    );

    match bench
        .execute(Body::EnableSupply(EnableSupply {}))
        .await
        .outcome
    {
        Some(Outcome::Error(error)) => match error.kind {
            Some(Kind::NotSupportedOnDmc(refusal)) => {
                assert_eq!(refusal.dmc_id, DMC_ID);
                assert_eq!(refusal.srv(), Srv::Srv71EnableSupply);
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(
        bench.log.entries().len(),
        6,
        "nothing was sent for the refused SRV"
    );
}

#[tokio::test]
async fn programming_mode_over_a_pty_sets_the_clock() {
    let mut bench = bench(Some("north-lls-0001")).await;
    let device_before = bench.device_time_ms();
    let reference = device_before + 3_600_000;
    let Outcome::ClockSynchronised(result) = outcome(
        bench
            .execute(Body::SynchroniseClock(SynchroniseClock {
                utc_ms: reference,
                tolerance_ms: 10_000,
            }))
            .await,
    ) else {
        panic!("wrong outcome");
    };
    assert!(result.adjusted);
    assert!(
        (result.device_time_before_ms - device_before).abs() < 10_000,
        "{result:?}"
    );
    assert!(
        (result.device_time_after_ms - reference).abs() < 10_000,
        "{result:?}"
    );
    assert!((bench.device_time_ms() - reference).abs() < 15_000);

    let Outcome::FirmwareVersion(version) = outcome(
        bench
            .execute(Body::ReadFirmwareVersion(ReadFirmwareVersion {}))
            .await,
    ) else {
        panic!("wrong outcome");
    };
    assert_eq!(version.version, "2.0.1");
}

#[tokio::test]
async fn the_same_register_reads_alike_over_dlms_and_over_the_optical_port() {
    use meterlab_dlms::Obis;
    use meterlab_dlms::axdr::Data;
    use meterlab_dlms::cosem::AttributeDescriptor;
    use meterlab_dlms_driver::{Driver, lls};

    let mut bench = bench(None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let address = listener.local_addr().expect("an address");
    tokio::spawn(meterlab_emulator::serve::tcp::serve_tcp(
        bench.emulator.clone(),
        listener,
    ));
    let wport = {
        let hub = bench.emulator.hub(bench.port.at.hub).expect("hub");
        hub.devices[bench.port.at.device].wport
    };
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    // The management client (SAP 1, LLS with the SMSO's password).
    let mut dlms = Driver::wrapper(stream, 1, wport, lls(b"north-lls-0001"));
    let patience = Duration::from_secs(5);
    dlms.associate(patience).await.expect("associates");
    let register = AttributeDescriptor {
        class_id: 3,
        instance: Obis([1, 0, 1, 8, 0, 255]),
        attribute_id: 2,
    };
    async fn register_wh(
        dlms: &mut Driver<tokio::net::TcpStream>,
        register: &AttributeDescriptor,
        patience: Duration,
    ) -> u64 {
        match dlms.get(*register, None, patience).await.expect("answered") {
            Ok(Data::DoubleLongUnsigned(wh)) => u64::from(wh),
            other => panic!("register value {other:?}"),
        }
    }
    let before = register_wh(&mut dlms, &register, patience).await;
    let Outcome::InstantaneousImportRegisters(registers) = outcome(
        bench
            .execute(Body::ReadInstantaneousImportRegisters(
                ReadInstantaneousImportRegisters {},
            ))
            .await,
    ) else {
        panic!("wrong outcome");
    };
    let after = register_wh(&mut dlms, &register, patience).await;
    // DLMS: Wh with scaler 0 (the DMC's register). Optical: kWh with scaler -3. Both are
    // value × 10^scaler; in Wh the optical value is the integer it carries.
    let total = registers.total_import.expect("a total");
    assert_eq!(
        (total.scaler, total.unit()),
        (-3, meterlab_plugin::pb::Unit::KilowattHour)
    );
    let optical_wh = u64::try_from(total.value).expect("positive");
    assert!(
        (before..=after).contains(&optical_wh),
        "DLMS {before} Wh <= optical {optical_wh} Wh <= DLMS {after} Wh"
    );
}
