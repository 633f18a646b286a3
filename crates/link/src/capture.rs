//! Traffic capture: every byte in both directions, with a monotonic timestamp, for evidence.
//!
//! Offsets come from tokio's clock, relative to when the capture started, so they are monotonic
//! and deterministic under `#[tokio::test(start_paused = true)]`. The JSON-lines export is the
//! evidence artefact; [`Capture::sha256`] is the SHA-256 of exactly those bytes, so whoever holds
//! the file can check it against the hash recorded with a result.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

/// Version tag written in the first line of every export.
pub const CAPTURE_FORMAT: &str = "meterlab-capture/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From meterlab to the device.
    Tx,
    /// From the device to meterlab.
    Rx,
}

/// Bytes that crossed the link in one read or write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRecord {
    /// Time since the capture started.
    pub offset: Duration,
    pub direction: Direction,
    pub bytes: Vec<u8>,
}

/// Something that happened to the link itself (opened, reconfigured, flushed, dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    pub offset: Duration,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureEntry {
    Bytes(CaptureRecord),
    Event(LinkEvent),
}

#[derive(Debug)]
struct Inner {
    link: String,
    started: Instant,
    entries: Vec<CaptureEntry>,
}

/// A shared, append-only capture. Clones are handles to the same capture, so the runner can keep
/// one while the link writes to it.
#[derive(Debug, Clone)]
pub struct Capture {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Serialize, Deserialize)]
struct HeaderLine<'a> {
    // Cow, not &str: a link name with characters JSON escapes cannot be borrowed when parsing.
    #[serde(borrow)]
    format: Cow<'a, str>,
    #[serde(borrow)]
    link: Cow<'a, str>,
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum EntryLine {
    Bytes {
        t_ns: u64,
        dir: Direction,
        hex: String,
    },
    Event {
        t_ns: u64,
        event: String,
    },
}

impl Capture {
    /// Starts a capture now (tokio clock) for the named link.
    pub fn new(link: impl Into<String>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                link: link.into(),
                started: Instant::now(),
                entries: Vec::new(),
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock cannot leave a half-pushed entry.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn link(&self) -> String {
        self.lock().link.clone()
    }

    /// Records bytes that crossed the link just now. Empty slices are not recorded.
    pub fn record(&self, direction: Direction, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut inner = self.lock();
        let offset = inner.started.elapsed();
        inner.entries.push(CaptureEntry::Bytes(CaptureRecord {
            offset,
            direction,
            bytes: bytes.to_vec(),
        }));
    }

    /// Records a link event just now.
    pub fn note(&self, text: impl Into<String>) {
        let mut inner = self.lock();
        let offset = inner.started.elapsed();
        inner.entries.push(CaptureEntry::Event(LinkEvent {
            offset,
            text: text.into(),
        }));
    }

    /// All entries, bytes and events, in the order they happened.
    pub fn entries(&self) -> Vec<CaptureEntry> {
        self.lock().entries.clone()
    }

    /// The byte records only, in order.
    pub fn records(&self) -> Vec<CaptureRecord> {
        self.lock()
            .entries
            .iter()
            .filter_map(|entry| match entry {
                CaptureEntry::Bytes(record) => Some(record.clone()),
                CaptureEntry::Event(_) => None,
            })
            .collect()
    }

    /// Whether any bytes went in `direction` since the capture started or was last taken
    /// (without copying the capture).
    pub fn carried(&self, direction: Direction) -> bool {
        self.lock().entries.iter().any(
            |entry| matches!(entry, CaptureEntry::Bytes(record) if record.direction == direction),
        )
    }

    /// Concatenation of every byte that went in one direction.
    pub fn stream(&self, direction: Direction) -> Vec<u8> {
        let inner = self.lock();
        let mut out = Vec::new();
        for entry in &inner.entries {
            if let CaptureEntry::Bytes(record) = entry
                && record.direction == direction
            {
                out.extend_from_slice(&record.bytes);
            }
        }
        out
    }

    /// Removes and returns every entry so far (e.g. at the end of one test case), keeping the
    /// clock running so later offsets stay comparable.
    pub fn take(&self) -> Vec<CaptureEntry> {
        std::mem::take(&mut self.lock().entries)
    }

    /// The capture as JSON lines: a header line, then one line per entry:
    /// `{"t_ns":1200,"dir":"tx","hex":"7ea0"}` or `{"t_ns":1300,"event":"reconfigured: 9600 8N1"}`.
    pub fn to_json_lines(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let header = HeaderLine {
            format: Cow::Borrowed(CAPTURE_FORMAT),
            link: Cow::Borrowed(&inner.link),
        };
        push_json_line(&mut out, &header);
        for entry in &inner.entries {
            let line = match entry {
                CaptureEntry::Bytes(record) => EntryLine::Bytes {
                    t_ns: nanos(record.offset),
                    dir: record.direction,
                    hex: hex::encode(&record.bytes),
                },
                CaptureEntry::Event(event) => EntryLine::Event {
                    t_ns: nanos(event.offset),
                    event: event.text.clone(),
                },
            };
            push_json_line(&mut out, &line);
        }
        out
    }

    /// SHA-256 of [`Capture::to_json_lines`].
    pub fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.to_json_lines().as_bytes()).into()
    }

    /// [`Capture::sha256`] as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        hex::encode(self.sha256())
    }
}

/// Parses an export back into entries, naming the line of the first problem.
pub fn parse_json_lines(text: &str) -> Result<(String, Vec<CaptureEntry>), ParseCaptureError> {
    let mut lines = text.lines().enumerate();
    let Some((_, first)) = lines.next() else {
        return Err(ParseCaptureError {
            line: 1,
            reason: "empty capture: missing header line".into(),
        });
    };
    let header: HeaderLine<'_> = serde_json::from_str(first).map_err(|e| ParseCaptureError {
        line: 1,
        reason: format!("bad header: {e}"),
    })?;
    if header.format != CAPTURE_FORMAT {
        return Err(ParseCaptureError {
            line: 1,
            reason: format!(
                "unsupported format {:?}, expected {CAPTURE_FORMAT:?}",
                header.format
            ),
        });
    }
    let link = header.link.into_owned();
    let mut entries = Vec::new();
    for (index, line) in lines {
        let line_no = index + 1;
        let parsed: EntryLine = serde_json::from_str(line).map_err(|e| ParseCaptureError {
            line: line_no,
            reason: e.to_string(),
        })?;
        entries.push(match parsed {
            EntryLine::Bytes { t_ns, dir, hex } => CaptureEntry::Bytes(CaptureRecord {
                offset: Duration::from_nanos(t_ns),
                direction: dir,
                bytes: hex::decode(&hex).map_err(|e| ParseCaptureError {
                    line: line_no,
                    reason: format!("bad hex: {e}"),
                })?,
            }),
            EntryLine::Event { t_ns, event } => CaptureEntry::Event(LinkEvent {
                offset: Duration::from_nanos(t_ns),
                text: event,
            }),
        });
    }
    Ok((link, entries))
}

/// A capture export that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capture line {line}: {reason}")]
pub struct ParseCaptureError {
    pub line: usize,
    pub reason: String,
}

fn nanos(offset: Duration) -> u64 {
    u64::try_from(offset.as_nanos()).unwrap_or(u64::MAX)
}

fn push_json_line<T: Serialize>(out: &mut String, value: &T) {
    match serde_json::to_string(value) {
        Ok(json) => out.push_str(&json),
        // Only plain strings and integers are serialised; this cannot fail, but never panic.
        Err(e) => {
            let _ = write!(out, "{{\"error\":{:?}}}", e.to_string());
        }
    }
    out.push('\n');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn carried_says_which_way_bytes_went_since_the_last_take() {
        let capture = Capture::new("test");
        capture.note("opened");
        assert!(!capture.carried(Direction::Tx), "an event is no bytes");
        capture.record(Direction::Rx, b"\x7e");
        assert!(capture.carried(Direction::Rx));
        assert!(!capture.carried(Direction::Tx));
        capture.record(Direction::Tx, b"\x7e");
        assert!(capture.carried(Direction::Tx));
        capture.take();
        assert!(!capture.carried(Direction::Tx), "taken entries are gone");
    }

    #[tokio::test(start_paused = true)]
    async fn records_carry_monotonic_offsets_from_the_tokio_clock() {
        let capture = Capture::new("pty:/dev/pts/9");
        capture.record(Direction::Tx, b"\x7e\xa0");
        tokio::time::sleep(Duration::from_millis(250)).await;
        capture.record(Direction::Rx, b"\x7e");
        capture.record(Direction::Rx, b"");
        let records = capture.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].offset, Duration::ZERO);
        assert_eq!(records[1].offset, Duration::from_millis(250));
        assert_eq!(capture.stream(Direction::Tx), b"\x7e\xa0");
    }

    #[tokio::test(start_paused = true)]
    async fn export_round_trips_and_its_hash_is_the_hash_of_the_file() {
        let capture = Capture::new("tcp:127.0.0.1:4059");
        capture.note("connected");
        capture.record(Direction::Tx, &[0, 1, 0xfe, 0xff]);
        tokio::time::advance(Duration::from_micros(1500)).await;
        capture.record(Direction::Rx, b"ok");
        let text = capture.to_json_lines();
        assert_eq!(
            text,
            "{\"format\":\"meterlab-capture/1\",\"link\":\"tcp:127.0.0.1:4059\"}\n\
             {\"t_ns\":0,\"event\":\"connected\"}\n\
             {\"t_ns\":0,\"dir\":\"tx\",\"hex\":\"0001feff\"}\n\
             {\"t_ns\":1500000,\"dir\":\"rx\",\"hex\":\"6f6b\"}\n"
        );
        let (link, entries) = parse_json_lines(&text).unwrap();
        assert_eq!(link, "tcp:127.0.0.1:4059");
        assert_eq!(entries, capture.entries());
        let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        assert_eq!(capture.sha256(), expected);
    }

    #[test]
    fn any_change_to_the_traffic_changes_the_hash() {
        let a = Capture::new("x");
        let b = Capture::new("x");
        a.record(Direction::Tx, b"abc");
        b.record(Direction::Rx, b"abc");
        assert_ne!(a.sha256(), b.sha256());
    }

    #[test]
    fn take_drains_entries() {
        let capture = Capture::new("x");
        capture.record(Direction::Tx, b"a");
        assert_eq!(capture.take().len(), 1);
        assert!(capture.entries().is_empty());
    }

    #[test]
    fn malformed_exports_name_the_line() {
        let err = parse_json_lines(
            "{\"format\":\"meterlab-capture/1\",\"link\":\"x\"}\n{\"t_ns\":0,\"dir\":\"tx\",\"hex\":\"zz\"}\n",
        )
        .unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("bad hex"), "{err}");
        assert_eq!(parse_json_lines("").unwrap_err().line, 1);
        let err = parse_json_lines("{\"format\":\"other/9\",\"link\":\"x\"}").unwrap_err();
        assert!(err.reason.contains("unsupported format"), "{err}");
    }
}
