//! The optical port (IEC 62056-21 mode C) of a meter whose DMC has one: found from the
//! scenario, answering from the same device model as the DLMS side, paced at 300 baud and
//! then at the rate the option select chose.

use std::time::Duration;

use meterlab_emulator::hub::Emulation;
use meterlab_emulator::scenario::Scenario;
use meterlab_emulator::serve::Emulator;
use meterlab_emulator::serve::optical::{LineLog, REACTION_TIME, optical_devices, serve_optical};
use meterlab_emulator::time::SimTime;
use meterlab_iec62056_21::decode::MeterDecoder;
use meterlab_iec62056_21::message::{ClientMessage, Command, MeterMessage, Mode, OptionSelect};
use meterlab_iec62056_21::{BaudRate, DataSet};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

/// 2026-12-07T02:38:05Z
const START: SimTime = SimTime::from_millis(1_796_611_085_000);

fn scenario() -> Scenario {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../suites/scenarios/optical.toml"
    );
    Scenario::load(std::path::Path::new(path)).expect("the optical scenario loads")
}

async fn receive(stream: &mut DuplexStream) -> MeterMessage {
    let mut decoder = MeterDecoder::new();
    let mut buffer = [0u8; 256];
    loop {
        if let Some(message) = decoder.next_message() {
            return message.expect("a well-formed frame");
        }
        let read = stream.read(&mut buffer).await.expect("reads");
        assert!(read > 0, "the port closed");
        decoder.push(&buffer[..read]);
    }
}

async fn send(stream: &mut DuplexStream, message: ClientMessage) {
    let bytes = message.encode().expect("encodable");
    stream.write_all(&bytes).await.expect("writes");
}

/// Line time of `bytes` 7E1 characters at `baud`.
fn line_time(bytes: usize, baud: u32) -> Duration {
    Duration::from_micros(u64::try_from(bytes).expect("small") * 10 * 1_000_000 / u64::from(baud))
}

#[test]
fn the_meter_of_an_optical_dmc_gets_a_port_with_its_smsos_password() {
    let scenario = scenario();
    let emulation = Emulation::build(&scenario, START).expect("builds");
    let ports = optical_devices(&scenario, &emulation);
    assert_eq!(ports.len(), 1, "{ports:?}");
    let port = &ports[0];
    assert_eq!(port.name, "north-optical.esme");
    assert_eq!(port.config.manufacturer, "ACM");
    assert_eq!(port.config.max_baud, BaudRate::B9600);
    assert_eq!(port.config.password.as_deref(), Some("north-lls-0001"));
    assert_eq!(port.config.ident, "ACMEE470P");

    let active = Scenario::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../suites/scenarios/active.toml"
    )))
    .expect("loads");
    let emulation = Emulation::build(&active, START).expect("builds");
    assert!(
        optical_devices(&active, &emulation).is_empty(),
        "no [optical] in those DMCs"
    );
}

#[tokio::test(start_paused = true)]
async fn a_readout_is_paced_at_300_then_at_the_selected_rate_and_matches_the_dlms_register() {
    let scenario = scenario();
    let emulation = Emulation::build(&scenario, START).expect("builds");
    let port = optical_devices(&scenario, &emulation).remove(0);
    let at = port.at;
    let address = port.config.address.clone();
    let emulator = Emulator::new(emulation, START);
    let (mut client, device_end) = tokio::io::duplex(4096);
    let log = LineLog::default();
    tokio::spawn(serve_optical(
        emulator.clone(),
        port,
        device_end,
        log.clone(),
    ));

    let started = Instant::now();
    send(&mut client, ClientMessage::SignOn { address }).await;
    let MeterMessage::Identification(identification) = receive(&mut client).await else {
        panic!("expected the identification");
    };
    let identification_len = 1 + 3 + 1 + identification.ident.len() + 2;
    // The last slice of a paced write is readable as soon as it is written, so the message
    // arrives one slice (10 ms of line time, at least one character) before its line time ends.
    assert!(started.elapsed() >= REACTION_TIME + line_time(identification_len - 1, 300));

    let selected = Instant::now();
    send(
        &mut client,
        ClientMessage::OptionSelect(OptionSelect {
            protocol: b'0',
            baud: BaudRate::B9600,
            mode: Mode::DataReadout,
        }),
    )
    .await;
    let MeterMessage::Readout(sets) = receive(&mut client).await else {
        panic!("expected the readout");
    };
    let took = selected.elapsed();
    let entries = log.entries();
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0], (300, identification_len));
    let (readout_baud, readout_len) = entries[1];
    assert_eq!(readout_baud, 9600);
    assert!(
        took >= REACTION_TIME + line_time(readout_len, 9600),
        "{took:?}"
    );
    assert!(
        took < REACTION_TIME + line_time(readout_len, 300),
        "paced at 9600, not 300: {took:?}"
    );

    // The same register the DLMS side serves, in kWh with every Wh digit.
    let (_, now) = emulator.clock().now();
    let wh = {
        let mut hub = emulator.hub(at.hub).expect("hub");
        hub.devices[at.device]
            .device
            .register(now)
            .expect("a meter")
    };
    let register = sets
        .iter()
        .find(|set| set.address == "1.8.0")
        .expect("1.8.0 in the readout");
    assert_eq!(register.unit.as_deref(), Some("kWh"));
    assert_eq!(register.value, format!("{}.{:03}", wh / 1000, wh % 1000));
    assert!(
        sets.contains(&DataSet::new("96.1.10", "1200012345678", None)),
        "{sets:?}"
    );
    assert!(
        sets.contains(&DataSet::new("0.2.0", "2.0.1", None)),
        "{sets:?}"
    );
    assert!(sets.iter().any(|set| set.address == "0.9.1"));
}

#[tokio::test(start_paused = true)]
async fn programming_mode_sets_the_device_clock_the_dlms_side_reads() {
    let scenario = scenario();
    let emulation = Emulation::build(&scenario, START).expect("builds");
    let port = optical_devices(&scenario, &emulation).remove(0);
    let at = port.at;
    let emulator = Emulator::new(emulation, START);
    let (mut client, device_end) = tokio::io::duplex(4096);
    tokio::spawn(serve_optical(
        emulator.clone(),
        port,
        device_end,
        LineLog::default(),
    ));

    send(
        &mut client,
        ClientMessage::SignOn {
            address: String::new(),
        },
    )
    .await;
    receive(&mut client).await;
    send(
        &mut client,
        ClientMessage::OptionSelect(OptionSelect {
            protocol: b'0',
            baud: BaudRate::B9600,
            mode: Mode::Programming,
        }),
    )
    .await;
    assert!(matches!(
        receive(&mut client).await,
        MeterMessage::Command(_)
    ));
    send(
        &mut client,
        ClientMessage::Command(Command::password("wrong")),
    )
    .await;
    assert_eq!(receive(&mut client).await, MeterMessage::Nak);
    send(
        &mut client,
        ClientMessage::Command(Command::password("north-lls-0001")),
    )
    .await;
    assert_eq!(receive(&mut client).await, MeterMessage::Ack);
    send(
        &mut client,
        ClientMessage::Command(Command::write("0.9.2", "27-01-02")),
    )
    .await;
    assert_eq!(receive(&mut client).await, MeterMessage::Ack);
    let (_, now) = emulator.clock().now();
    let device_time = {
        let hub = emulator.hub(at.hub).expect("hub");
        hub.devices[at.device].device.device_time(now)
    };
    let civil = device_time.civil();
    assert_eq!(
        (civil.year, civil.month, civil.day),
        (2027, 1, 2),
        "{civil:?}"
    );
    send(&mut client, ClientMessage::Command(Command::read("9.9.9"))).await;
    assert_eq!(receive(&mut client).await.error_text(), Some("ERROR"));
    send(&mut client, ClientMessage::Command(Command::break_off())).await;
}
