//! In-memory test harness in the style of quinn-proto's `Pair`: an [`HdlcClient`] and an
//! [`HdlcServer`] joined by two deterministic, optionally lossy channels and a virtual clock.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::VecDeque;

use meterlab_dlms::hdlc::{Frame, HdlcAddress, HdlcClient, HdlcConfig, HdlcEvent, HdlcServer};

/// Deterministic xorshift64* so every lossy run is reproducible from its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// True with probability `per_mille / 1000`.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        self.next_u64() % 1000 < u64::from(per_mille)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// One direction of the line. Each transmitted frame may be dropped, or corrupted (a bit
/// flipped, or the frame cut short), and is delivered in pieces of random size.
#[derive(Debug, Clone)]
pub struct Channel {
    pub rng: Rng,
    pub drop_per_mille: u32,
    pub corrupt_per_mille: u32,
    pub dropped: u64,
    pub corrupted: u64,
    pub delivered: u64,
    /// Stop delivering anything (a cut cable).
    pub dead: bool,
}

impl Channel {
    pub fn perfect() -> Self {
        Self::lossy(0, 0, 0)
    }

    pub fn lossy(seed: u64, drop_per_mille: u32, corrupt_per_mille: u32) -> Self {
        Self {
            rng: Rng::new(seed),
            drop_per_mille,
            corrupt_per_mille,
            dropped: 0,
            corrupted: 0,
            delivered: 0,
            dead: false,
        }
    }

    /// What arrives at the other end for one transmitted frame, split into reads.
    pub fn carry(&mut self, mut bytes: Vec<u8>) -> Vec<Vec<u8>> {
        if self.dead || self.rng.chance(self.drop_per_mille) {
            self.dropped += 1;
            return Vec::new();
        }
        if self.rng.chance(self.corrupt_per_mille) {
            self.corrupted += 1;
            if self.rng.chance(500) {
                let at = self.rng.below(bytes.len());
                let bit = self.rng.below(8);
                bytes[at] ^= 1 << bit;
            } else {
                let keep = self.rng.below(bytes.len());
                bytes.truncate(keep);
            }
        }
        self.delivered += 1;
        let mut reads = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = 1 + self.rng.below(rest.len().min(40));
            reads.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        reads
    }
}

/// What the server application does with a request APDU.
pub type Responder = Box<dyn FnMut(&[u8]) -> Option<Vec<u8>>>;

pub struct Pair {
    pub client: HdlcClient,
    pub server: HdlcServer,
    pub now: u64,
    pub to_server: Channel,
    pub to_client: Channel,
    pub client_events: Vec<HdlcEvent>,
    pub server_events: Vec<HdlcEvent>,
    /// Server application; `None` answers are not sent.
    pub responder: Responder,
    /// Virtual time each frame spends on the line.
    pub latency_ms: u64,
    /// The last frames sent, for failure messages: (time, "C>S" or "S>C", frame or raw bytes).
    pub trace: VecDeque<(u64, &'static str, String)>,
}

pub fn server_address() -> HdlcAddress {
    HdlcAddress::server(1, Some(0x11)).unwrap()
}

pub fn client_address() -> HdlcAddress {
    HdlcAddress::client(0x10).unwrap()
}

/// Answers every request with the request reversed and prefixed by 0xC4 (a stand-in for a
/// GET response, so tests can check each response belongs to its request).
pub fn echo_responder() -> Responder {
    Box::new(|request| {
        let mut response = vec![0xC4];
        response.extend(request.iter().rev());
        Some(response)
    })
}

impl Pair {
    pub fn new(client_config: HdlcConfig, server_config: HdlcConfig) -> Self {
        Self {
            client: HdlcClient::new(client_config, client_address(), server_address()),
            server: HdlcServer::new(server_config, server_address()),
            now: 0,
            to_server: Channel::perfect(),
            to_client: Channel::perfect(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            responder: echo_responder(),
            latency_ms: 1,
            trace: VecDeque::new(),
        }
    }

    pub fn default_pair() -> Self {
        Self::new(HdlcConfig::default(), HdlcConfig::server())
    }

    /// Moves frames and events until neither side has anything to send. Returns whether
    /// anything happened.
    pub fn step(&mut self) -> bool {
        let mut progressed = false;
        while let Some(bytes) = self.client.poll_transmit() {
            progressed = true;
            self.now += self.latency_ms;
            self.record("C>S", &bytes);
            for read in self.to_server.carry(bytes) {
                self.server.handle_bytes(&read, self.now);
            }
            self.drain_server_events();
        }
        self.drain_server_events();
        while let Some(bytes) = self.server.poll_transmit() {
            progressed = true;
            self.now += self.latency_ms;
            self.record("S>C", &bytes);
            for read in self.to_client.carry(bytes) {
                self.client.handle_bytes(&read, self.now);
            }
        }
        while let Some(event) = self.client.poll_event() {
            progressed = true;
            self.client_events.push(event);
        }
        progressed
    }

    fn record(&mut self, direction: &'static str, bytes: &[u8]) {
        let text = match Frame::decode(bytes) {
            Ok(frame) => format!(
                "{:?} seg={} info={}",
                frame.control,
                frame.segmented,
                frame.info.len()
            ),
            Err(error) => format!("{error}"),
        };
        self.trace.push_back((self.now, direction, text));
        if self.trace.len() > 30 {
            self.trace.pop_front();
        }
    }

    fn drain_server_events(&mut self) {
        while let Some(event) = self.server.poll_event() {
            if let HdlcEvent::Apdu(request) = &event
                && let Some(response) = (self.responder)(request)
            {
                // The server may have dropped the link meanwhile; then there is nobody to answer.
                let _ = self.server.send_apdu(&response, self.now);
            }
            self.server_events.push(event);
        }
    }

    /// Drives until `done` holds, jumping the clock to the next time-out whenever both sides are
    /// idle. Gives up (returning false) once the virtual clock passes `deadline_ms`.
    pub fn drive_until(&mut self, deadline_ms: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        let mut idle_timeouts = 0u32;
        loop {
            let mut steps = 0u32;
            while self.step() {
                if done(self) {
                    return true;
                }
                steps += 1;
                // Stations that keep talking without the clock moving on are livelocked.
                assert!(steps < 100_000, "livelock: recent frames {:#?}", self.trace);
            }
            if done(self) {
                return true;
            }
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= deadline_ms => {
                    // A time-out that stays due after being handled would spin forever.
                    idle_timeouts = if at <= self.now { idle_timeouts + 1 } else { 0 };
                    assert!(
                        idle_timeouts < 1_000,
                        "time-out at {at} stays due at {}",
                        self.now
                    );
                    self.now = self.now.max(at);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => return false,
            }
        }
    }

    pub fn connect(&mut self) {
        self.client.connect(self.now).unwrap();
        let connected = self.drive_until(self.now + 60_000, |p| {
            p.client_events
                .iter()
                .any(|e| matches!(e, HdlcEvent::Connected(_)))
        });
        assert!(
            connected,
            "no connection; client events {:?}",
            self.client_events
        );
    }

    pub fn client_apdus(&self) -> Vec<Vec<u8>> {
        apdus(&self.client_events)
    }

    pub fn server_apdus(&self) -> Vec<Vec<u8>> {
        apdus(&self.server_events)
    }

    /// Sends a request and drives until its response (or the deadline).
    pub fn request(&mut self, apdu: &[u8], deadline_ms: u64) -> Option<Vec<u8>> {
        let before = self.client_apdus().len();
        self.client.send_apdu(apdu, self.now).ok()?;
        let done = self.drive_until(self.now + deadline_ms, |p| {
            p.client_apdus().len() > before
                || p.client_events
                    .iter()
                    .any(|e| matches!(e, HdlcEvent::Disconnected(_)))
        });
        if !done {
            return None;
        }
        self.client_apdus().get(before).cloned()
    }
}

pub fn apdus(events: &[HdlcEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            HdlcEvent::Apdu(apdu) => Some(apdu.clone()),
            _ => None,
        })
        .collect()
}

pub fn expected_response(request: &[u8]) -> Vec<u8> {
    let mut response = vec![0xC4];
    response.extend(request.iter().rev());
    response
}

/// A recognisable request of `len` bytes.
pub fn request_of(len: usize, tag: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(tag))
        .collect()
}
