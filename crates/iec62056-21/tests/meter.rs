//! The meter state machine through whole mode C exchanges, as a client sees them.

use std::collections::BTreeMap;

use meterlab_iec62056_21::decode::MeterDecoder;
use meterlab_iec62056_21::message::{ClientMessage, Command, MeterMessage, Mode, OptionSelect};
use meterlab_iec62056_21::meter::{
    ERROR_NO_ACCESS, ERROR_UNKNOWN_ADDRESS, Meter, MeterAction, MeterConfig, MeterData,
};
use meterlab_iec62056_21::{BaudRate, DataSet};

struct Registers(BTreeMap<String, DataSet>);

impl MeterData for Registers {
    fn readout(&mut self) -> Vec<DataSet> {
        self.0.values().cloned().collect()
    }
    fn read(&mut self, address: &str) -> Option<DataSet> {
        self.0.get(address).cloned()
    }
    fn write(&mut self, data: &DataSet) -> Result<(), String> {
        match self.0.get_mut(&data.address) {
            Some(set) if data.address == "0.9.1" => {
                set.value = data.value.clone();
                Ok(())
            }
            Some(_) => Err("READ ONLY".to_owned()),
            None => Err("ERROR".to_owned()),
        }
    }
}

fn registers() -> Registers {
    Registers(
        [
            DataSet::new("0.9.1", "02:38:05", None),
            DataSet::new("1.8.0", "001234.567", Some("kWh")),
        ]
        .into_iter()
        .map(|set| (set.address.clone(), set))
        .collect(),
    )
}

fn meter(password: Option<&str>) -> Meter {
    Meter::new(MeterConfig {
        address: "42".to_owned(),
        manufacturer: "ACM".to_owned(),
        max_baud: BaudRate::B9600,
        ident: "E470".to_owned(),
        password: password.map(str::to_owned),
    })
}

/// The messages the client decodes, each with the rate it was sent at.
fn heard(start: BaudRate, actions: &[MeterAction]) -> Vec<(BaudRate, MeterMessage)> {
    let mut baud = start;
    let mut out = Vec::new();
    for action in actions {
        match action {
            MeterAction::SetBaud(rate) => baud = *rate,
            MeterAction::Send(bytes) => {
                let mut decoder = MeterDecoder::new();
                decoder.push(bytes);
                while let Some(message) = decoder.next_message() {
                    out.push((baud, message.expect("the meter sends well-formed frames")));
                }
            }
            MeterAction::Note(_) => {}
        }
    }
    out
}

fn select(baud: BaudRate, mode: Mode) -> ClientMessage {
    ClientMessage::OptionSelect(OptionSelect {
        protocol: b'0',
        baud,
        mode,
    })
}

#[test]
fn a_readout_answers_at_the_selected_rate_and_returns_to_300() {
    let mut meter = meter(None);
    let mut data = registers();
    let actions = meter.handle(
        ClientMessage::SignOn {
            address: String::new(),
        },
        &mut data,
    );
    assert!(
        matches!(heard(BaudRate::B300, &actions).as_slice(), [(BaudRate::B300, MeterMessage::Identification(id))] if id.baud == BaudRate::B9600)
    );
    let actions = meter.handle(select(BaudRate::B4800, Mode::DataReadout), &mut data);
    assert_eq!(
        actions.first(),
        Some(&MeterAction::SetBaud(BaudRate::B4800))
    );
    assert_eq!(actions.last(), Some(&MeterAction::SetBaud(BaudRate::B300)));
    assert_eq!(
        heard(BaudRate::B300, &actions),
        vec![(
            BaudRate::B4800,
            MeterMessage::Readout(registers().readout())
        )]
    );
    assert_eq!(meter.baud(), BaudRate::B300);
    assert!(!meter.is_busy());
}

#[test]
fn a_sign_on_for_another_address_gets_no_answer() {
    let mut meter = meter(None);
    let actions = meter.handle(
        ClientMessage::SignOn {
            address: "43".to_owned(),
        },
        &mut registers(),
    );
    assert!(heard(BaudRate::B300, &actions).is_empty());
    let actions = meter.handle(
        ClientMessage::SignOn {
            address: "42".to_owned(),
        },
        &mut registers(),
    );
    assert_eq!(heard(BaudRate::B300, &actions).len(), 1);
}

#[test]
fn a_rate_above_the_offered_one_ends_the_exchange() {
    let mut meter = meter(None);
    meter.handle(
        ClientMessage::SignOn {
            address: String::new(),
        },
        &mut registers(),
    );
    let actions = meter.handle(
        select(BaudRate::B19200, Mode::DataReadout),
        &mut registers(),
    );
    assert!(heard(BaudRate::B300, &actions).is_empty());
    assert!(!meter.is_busy());
}

#[test]
fn programming_mode_reads_and_writes_only_after_the_password() {
    let mut meter = meter(Some("SECRET"));
    let mut data = registers();
    meter.handle(
        ClientMessage::SignOn {
            address: String::new(),
        },
        &mut data,
    );
    let actions = meter.handle(select(BaudRate::B9600, Mode::Programming), &mut data);
    assert!(
        matches!(heard(BaudRate::B300, &actions).as_slice(), [(BaudRate::B9600, MeterMessage::Command(prompt))] if prompt.variant == b'0')
    );

    let read = ClientMessage::Command(Command::read("1.8.0"));
    let answer = heard(BaudRate::B9600, &meter.handle(read.clone(), &mut data));
    assert_eq!(answer[0].1.error_text(), Some(ERROR_NO_ACCESS));

    let wrong = meter.handle(
        ClientMessage::Command(Command::password("GUESS")),
        &mut data,
    );
    assert_eq!(
        heard(BaudRate::B9600, &wrong),
        vec![(BaudRate::B9600, MeterMessage::Nak)]
    );
    let right = meter.handle(
        ClientMessage::Command(Command::password("SECRET")),
        &mut data,
    );
    assert_eq!(
        heard(BaudRate::B9600, &right),
        vec![(BaudRate::B9600, MeterMessage::Ack)]
    );

    let answer = heard(BaudRate::B9600, &meter.handle(read, &mut data));
    assert_eq!(
        answer,
        vec![(
            BaudRate::B9600,
            MeterMessage::Data(vec![DataSet::new("1.8.0", "001234.567", Some("kWh"))])
        )]
    );
    let unknown = heard(
        BaudRate::B9600,
        &meter.handle(ClientMessage::Command(Command::read("9.9.9")), &mut data),
    );
    assert_eq!(unknown[0].1.error_text(), Some(ERROR_UNKNOWN_ADDRESS));

    let write = meter.handle(
        ClientMessage::Command(Command::write("0.9.1", "03:00:00")),
        &mut data,
    );
    assert_eq!(
        heard(BaudRate::B9600, &write),
        vec![(BaudRate::B9600, MeterMessage::Ack)]
    );
    assert_eq!(
        data.read("0.9.1").map(|set| set.value),
        Some("03:00:00".to_owned())
    );
    let refused = heard(
        BaudRate::B9600,
        &meter.handle(
            ClientMessage::Command(Command::write("1.8.0", "0")),
            &mut data,
        ),
    );
    assert_eq!(refused[0].1.error_text(), Some("READ ONLY"));

    // NAK asks for the last answer again.
    let again = heard(
        BaudRate::B9600,
        &meter.handle(ClientMessage::Nak, &mut data),
    );
    assert_eq!(again, refused);

    let actions = meter.handle(ClientMessage::Command(Command::break_off()), &mut data);
    assert_eq!(actions, vec![MeterAction::SetBaud(BaudRate::B300)]);
    assert!(!meter.is_busy());
}

#[test]
fn a_meter_without_a_password_refuses_programming_mode() {
    let mut meter = meter(None);
    meter.handle(
        ClientMessage::SignOn {
            address: String::new(),
        },
        &mut registers(),
    );
    let actions = meter.handle(select(BaudRate::B9600, Mode::Programming), &mut registers());
    assert_eq!(
        heard(BaudRate::B300, &actions),
        vec![(BaudRate::B300, MeterMessage::Nak)]
    );
    assert_eq!(meter.baud(), BaudRate::B300);
}
