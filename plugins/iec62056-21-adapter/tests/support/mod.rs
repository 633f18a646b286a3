//! A wire between the adapter (driven through the `Adapter` trait) and a mode C meter state
//! machine, in simulated time. Bytes only cross when both ends are at the same rate: a byte
//! sent at another rate than the receiver's arrives garbled, as on a real line.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use meterlab_iec62056_21::decode::ClientDecoder;
use meterlab_iec62056_21::meter::{Meter, MeterAction, MeterConfig, MeterData};
use meterlab_iec62056_21::{BaudRate, DataSet, clock};
use meterlab_iec62056_21_adapter::Iec62056Adapter;
use meterlab_plugin::Adapter;
use meterlab_plugin::pb::{
    BytesReceived, Execute, HostEvent, LinkKind, ServiceRequest, ServiceResponse, SessionConfig,
    TimerFired, action, host_event,
};

pub const DMC_ID: &str = "acme-ch1-e470p-g4";

pub fn dmc_text() -> String {
    meterlab_dmc::SHIPPED
        .iter()
        .find(|(id, _)| *id == DMC_ID)
        .map(|(_, text)| (*text).to_owned())
        .expect("the optical DMC is shipped")
}

pub fn config(parameters: &[(&str, &str)]) -> SessionConfig {
    let mut map: HashMap<String, String> = HashMap::new();
    map.insert("dmc".to_owned(), dmc_text());
    for (key, value) in parameters {
        map.insert((*key).to_owned(), (*value).to_owned());
    }
    SessionConfig {
        session_id: "s1".to_owned(),
        smso_id: "smso-north".to_owned(),
        dmc_id: DMC_ID.to_owned(),
        device_id: "esme-1".to_owned(),
        link_kind: LinkKind::Serial.into(),
        line: None,
        parameters: map,
    }
}

/// Registers and a clock: the device data behind the test meter.
#[derive(Debug, Clone)]
pub struct TestData {
    pub sets: BTreeMap<String, DataSet>,
    /// Device time at wire time 0.
    pub clock_ms: i64,
    pub now_ms: u64,
}

impl TestData {
    pub fn new(clock_ms: i64) -> Self {
        let sets = [
            DataSet::new("1.8.0", "001234.567", Some("kWh")),
            DataSet::new("96.1.10", "1200023456789", None),
            DataSet::new("0.2.0", "2.0.1", None),
        ]
        .into_iter()
        .map(|set| (set.address.clone(), set))
        .collect();
        Self {
            sets,
            clock_ms,
            now_ms: 0,
        }
    }

    pub fn device_ms(&self) -> i64 {
        self.clock_ms + i64::try_from(self.now_ms).expect("small")
    }
}

impl MeterData for TestData {
    fn readout(&mut self) -> Vec<DataSet> {
        let mut sets: Vec<DataSet> = self.sets.values().cloned().collect();
        for address in [clock::TIME_ADDRESS, clock::DATE_ADDRESS] {
            sets.extend(self.read(address));
        }
        sets
    }

    fn read(&mut self, address: &str) -> Option<DataSet> {
        let device = self.device_ms();
        match address {
            clock::TIME_ADDRESS => Some(DataSet::new(address, clock::time_value(device), None)),
            clock::DATE_ADDRESS => Some(DataSet::new(address, clock::date_value(device)?, None)),
            _ => self.sets.get(address).cloned(),
        }
    }

    fn write(&mut self, data: &DataSet) -> Result<(), String> {
        let device = self.device_ms();
        let (date, time) = match data.address.as_str() {
            clock::TIME_ADDRESS => (
                clock::date_value(device).unwrap_or_default(),
                data.value.clone(),
            ),
            clock::DATE_ADDRESS => (data.value.clone(), clock::time_value(device)),
            _ => return Err("READ ONLY".to_owned()),
        };
        let set = clock::unix_ms(&date, &time).map_err(|_| "BAD VALUE".to_owned())?;
        self.clock_ms = set - i64::try_from(self.now_ms).expect("small");
        Ok(())
    }
}

pub fn meter_config(password: Option<&str>) -> MeterConfig {
    MeterConfig {
        address: "12345678".to_owned(),
        manufacturer: "ACM".to_owned(),
        max_baud: BaudRate::B9600,
        ident: "E470P".to_owned(),
        password: password.map(str::to_owned),
    }
}

/// How the meter end misbehaves.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    /// The meter never answers.
    pub silent: bool,
    /// Flip a bit in the first N frames the meter sends.
    pub damage_first: usize,
}

pub struct Wire {
    pub adapter: Iec62056Adapter,
    pub meter: Meter,
    pub data: TestData,
    decoder: ClientDecoder,
    pub now_ms: u64,
    /// The adapter end's line rate, as its `ReconfigureLink` actions set it.
    pub adapter_baud: u32,
    pub timer: Option<u64>,
    /// Every rate the adapter switched to, in order.
    pub switches: Vec<u32>,
    pub sent_by_adapter: Vec<Vec<u8>>,
    pub faults: Faults,
    damaged: usize,
    pub garbled: usize,
}

impl Wire {
    pub fn new(parameters: &[(&str, &str)], password: Option<&str>, clock_ms: i64) -> Self {
        let adapter = Iec62056Adapter::open(config(parameters)).expect("opens");
        Self {
            adapter,
            meter: Meter::new(meter_config(password)),
            data: TestData::new(clock_ms),
            decoder: ClientDecoder::new(),
            now_ms: 0,
            adapter_baud: 300,
            timer: None,
            switches: Vec::new(),
            sent_by_adapter: Vec::new(),
            faults: Faults::default(),
            damaged: 0,
            garbled: 0,
        }
    }

    /// Runs `request` to its response, advancing time 50 ms per exchange step.
    pub fn execute(&mut self, request: ServiceRequest) -> ServiceResponse {
        let mut pending = vec![host_event::Event::Execute(Execute {
            request: Some(request),
        })];
        for _ in 0..200 {
            let event = if let Some(event) = pending.pop() {
                event
            } else if let Some(delay) = self.timer.take() {
                self.now_ms += delay;
                host_event::Event::TimerFired(TimerFired { timer_id: 1 })
            } else {
                panic!("the adapter waits for nothing and has not completed");
            };
            self.data.now_ms = self.now_ms;
            let actions = self.adapter.handle(HostEvent::new(self.now_ms, event));
            let mut outgoing = Vec::new();
            let mut response = None;
            for action in actions.actions.into_iter().filter_map(|a| a.action) {
                match action {
                    action::Action::Transmit(transmit) => {
                        self.sent_by_adapter.push(transmit.data.clone());
                        outgoing.push((self.adapter_baud, transmit.data));
                    }
                    action::Action::ReconfigureLink(settings) => {
                        assert_eq!((settings.data_bits, settings.parity), (7, 2), "7E1");
                        self.adapter_baud = settings.baud;
                        self.switches.push(settings.baud);
                    }
                    action::Action::SetTimer(timer) => self.timer = Some(timer.delay_ms),
                    action::Action::CancelTimer(_) => self.timer = None,
                    action::Action::Complete(complete) => response = complete.response,
                    _ => {}
                }
            }
            // The meter answers after its reaction time: by then the adapter's actions, the
            // baud-rate switch included, are done.
            self.now_ms += 50;
            for (baud, bytes) in outgoing {
                if let Some(reply) = self.meter_hears(baud, &bytes) {
                    pending.insert(
                        0,
                        host_event::Event::BytesReceived(BytesReceived { data: reply }),
                    );
                }
            }
            if let Some(response) = response {
                return response;
            }
        }
        panic!("no response after 200 events");
    }

    /// Delivers bytes sent at `baud` to the meter; returns what it sends back (at its rates,
    /// garbled where the adapter's end listens at another).
    fn meter_hears(&mut self, baud: u32, bytes: &[u8]) -> Option<Vec<u8>> {
        if baud != self.meter.baud().bits_per_second() {
            self.garbled += 1;
            return None;
        }
        self.decoder.push(bytes);
        let mut reply = Vec::new();
        while let Some(message) = self.decoder.next_message() {
            let Ok(message) = message else { continue };
            if self.faults.silent {
                continue;
            }
            self.data.now_ms = self.now_ms;
            let mut meter_baud = self.meter.baud().bits_per_second();
            for action in self.meter.handle(message, &mut self.data) {
                if let MeterAction::SetBaud(rate) = action {
                    meter_baud = rate.bits_per_second();
                }
                if let MeterAction::Send(mut frame) = action {
                    if meter_baud != self.adapter_baud {
                        self.garbled += 1;
                        continue;
                    }
                    let checked = matches!(frame.first(), Some(0x01 | 0x02));
                    if checked && self.damaged < self.faults.damage_first {
                        self.damaged += 1;
                        let last = frame.len() - 1;
                        frame[last] ^= 0x01;
                    }
                    reply.extend(frame);
                }
            }
        }
        (!reply.is_empty()).then_some(reply)
    }
}
