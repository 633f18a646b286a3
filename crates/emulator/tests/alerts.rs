//! Alerts pushed on open associations as they happen: clients that hold an association and
//! send nothing receive the EventNotification (over the wrapper, on tokio's paused clock).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_dlms::association::ClientEvent;
use meterlab_dlms::axdr::Data;
use meterlab_dlms_driver::{Driver, DriverError, lls};
use meterlab_emulator::SimTime;
use meterlab_emulator::hub::{Emulation, LLS_CLIENT_SAP};
use meterlab_emulator::scenario::{Scenario, ScheduledAlert, ScheduledAlertKind};
use meterlab_emulator::serve::tcp::serve_wrapper_stream;
use meterlab_emulator::serve::{DeviceIndex, Emulator, FaultScope, Incident};
use tokio::io::DuplexStream;
use tokio::time::Instant;

const START: SimTime = SimTime::from_unix_secs(1_761_955_200);
const ESME: DeviceIndex = DeviceIndex { hub: 0, device: 1 };
const TAMPER: u8 = 40;
const POWER_UP: u8 = 2;

fn emulator() -> Emulator {
    Emulator::new(
        Emulation::build(&Scenario::generated(1), START).unwrap(),
        START,
    )
}

struct Client {
    driver: Driver<DuplexStream>,
}

enum Heard {
    Event(ClientEvent),
    Closed,
    Nothing,
}

impl Client {
    fn connect(emulator: &Emulator, wport: u16, label: &str) -> Self {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let emulator = emulator.clone();
        let label = label.to_owned();
        tokio::spawn(async move { serve_wrapper_stream(emulator, theirs, &label).await });
        Self {
            driver: Driver::wrapper(ours, LLS_CLIENT_SAP, wport, lls(b"00000001")),
        }
    }

    /// Sends what the client queued, then waits up to `patience` for its next event.
    async fn listen(&mut self, patience: Duration) -> Heard {
        match self.driver.next_association_event(patience).await {
            Ok(event) => Heard::Event(event),
            Err(DriverError::Silent(_)) => Heard::Nothing,
            Err(DriverError::Closed | DriverError::Io(_)) => Heard::Closed,
            Err(other) => panic!("{other}"),
        }
    }

    async fn associate(&mut self) {
        match self.driver.associate(Duration::from_secs(5)).await {
            Ok(ClientEvent::Associated { .. }) => {}
            other => panic!("no AARE: {other:?}"),
        }
    }

    /// The event code of the next EventNotification, waiting up to `patience` without sending.
    async fn alert(&mut self, patience: Duration) -> Option<u8> {
        match self.listen(patience).await {
            Heard::Event(ClientEvent::EventNotification(notification)) => {
                match notification.value {
                    Data::Unsigned(code) => Some(code),
                    other => panic!("event code {other:?}"),
                }
            }
            Heard::Event(other) => panic!("{other:?}"),
            Heard::Closed => panic!("connection closed"),
            Heard::Nothing => None,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_association_receives_an_alert_when_it_happens_on_every_connection() {
    let emulator = emulator();
    let mut first = Client::connect(&emulator, 2, "first");
    let mut second = Client::connect(&emulator, 2, "second");
    let mut gas = Client::connect(&emulator, 3, "gas");
    first.associate().await;
    second.associate().await;
    gas.associate().await;
    assert_eq!(emulator.open_associations(ESME), 2);

    let scheduled = Instant::now();
    emulator.schedule(ESME, Incident::Tamper, Duration::from_secs(30));
    assert_eq!(first.alert(Duration::from_secs(60)).await, Some(TAMPER));
    let waited = scheduled.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(31),
        "pushed after {waited:?}"
    );
    assert_eq!(second.alert(Duration::from_secs(1)).await, Some(TAMPER));
    // The gas meter saw no tamper, and nothing is left queued on the ESME.
    assert_eq!(gas.alert(Duration::from_secs(60)).await, None);
    assert_eq!(
        emulator.hub(0).unwrap().devices[1].device.pending_alerts(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn an_alert_raised_with_no_association_open_goes_to_the_next_one() {
    let emulator = emulator();
    emulator.inject(ESME, Incident::Tamper);
    assert_eq!(
        emulator.hub(0).unwrap().devices[1].device.pending_alerts(),
        1
    );
    let mut client = Client::connect(&emulator, 2, "late");
    client.associate().await;
    assert_eq!(client.alert(Duration::from_secs(1)).await, Some(TAMPER));
}

#[tokio::test(start_paused = true)]
async fn a_supply_interruption_silences_the_meter_and_is_reported_when_power_returns() {
    let emulator = emulator();
    let mut client = Client::connect(&emulator, 2, "outage");
    client.associate().await;
    let began = Instant::now();
    emulator.inject(
        ESME,
        Incident::SupplyInterruption {
            outage: Duration::from_secs(10),
        },
    );
    assert!(!emulator.hub(0).unwrap().devices[1].device.is_powered());
    assert_eq!(client.alert(Duration::from_secs(20)).await, Some(POWER_UP));
    assert!(began.elapsed() >= Duration::from_secs(10));
    assert!(emulator.hub(0).unwrap().devices[1].device.is_powered());
}

#[tokio::test(start_paused = true)]
async fn a_reboot_drops_the_connections_to_the_device_and_its_count() {
    let emulator = emulator();
    let mut esme = Client::connect(&emulator, 2, "esme");
    let mut gas = Client::connect(&emulator, 3, "gas");
    esme.associate().await;
    gas.associate().await;
    assert_eq!(
        emulator.reboot(&FaultScope::Device("hub-00001.esme".into())),
        1
    );
    assert!(matches!(
        esme.listen(Duration::from_secs(5)).await,
        Heard::Closed
    ));
    assert!(matches!(
        gas.listen(Duration::from_secs(5)).await,
        Heard::Nothing
    ));
    // The serving task has ended and given back its association.
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(emulator.open_associations(ESME), 0);
}

const SCENARIO: &str = r#"
seed = 1

[[smso]]
id = "smso-north"
lls_password = "00000001"
key_seed = "north secret"

[[dmc]]
id = "acme"
smso = "smso-north"
hub = { model = "ACME CH1", firmware = "1.4.0" }
esme = { model = "ACME E470", firmware = "2.0.1" }
gsme = { model = "ACME G4", firmware = "3.1.0" }

[[hub]]
id = "north"
dmc = "acme"
state = "active"

[[hub.esme.alert]]
kind = "tamper"
after_s = 30

[[hub.esme.alert]]
kind = "supply_interruption"
after_s = 60
outage_s = 5
"#;

#[tokio::test(start_paused = true)]
async fn scenario_alerts_are_pushed_when_their_time_comes() {
    let scenario = Scenario::parse("alerts.toml", SCENARIO).unwrap();
    assert_eq!(
        scenario.hubs[0].esme.alerts,
        vec![
            ScheduledAlert {
                after_s: 30,
                kind: ScheduledAlertKind::Tamper
            },
            ScheduledAlert {
                after_s: 60,
                kind: ScheduledAlertKind::SupplyInterruption { outage_s: 5 }
            },
        ]
    );
    let emulator = Emulator::new(Emulation::build(&scenario, START).unwrap(), START);
    let started = Instant::now();
    assert_eq!(emulator.schedule_scenario_alerts(&scenario), 2);
    let mut client = Client::connect(&emulator, 2, "scenario");
    client.associate().await;
    assert_eq!(client.alert(Duration::from_secs(40)).await, Some(TAMPER));
    assert_eq!(started.elapsed().as_secs(), 30);
    assert_eq!(client.alert(Duration::from_secs(40)).await, Some(POWER_UP));
    assert_eq!(started.elapsed().as_secs(), 65);
}

#[test]
fn a_bad_scenario_alert_is_reported_where_it_is() {
    let bad = SCENARIO.replace(r#"kind = "tamper""#, r#"kind = "flood""#);
    let error = Scenario::parse("alerts.toml", &bad)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("alerts.toml:22:8") && error.contains(r#"alert kind "flood""#),
        "{error}"
    );
    let bad = SCENARIO.replace("after_s = 30", "after_s = 30\noutage_s = 2");
    let error = Scenario::parse("alerts.toml", &bad)
        .unwrap_err()
        .to_string();
    assert!(error.contains("outage_s applies to"), "{error}");
}
