//! Acknowledged means durable: the storing process is killed with SIGKILL in the middle of a
//! stream, restarted, and the client resumes from the watermark. Every result acknowledged before
//! a kill must be in the log exactly once, with the acknowledged global seq and hash, and the
//! chain must verify.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};

use meterlab_store::{LogReader, SqliteReader, Verification};
use serde_json::Value;

const TOTAL: u64 = 3000;
const SOURCE: &str = "bench-7";
const RUN: &str = "run-crash";

fn request(seq: u64) -> String {
    format!(
        "{{\"source\":\"{SOURCE}\",\"run\":\"{RUN}\",\"seq\":{seq},\"kind\":\"case_result\",\
         \"body\":\"case {seq} passed\",\"ts\":{}}}\n",
        1_700_000_000_000u64 + seq
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct AckLine {
    global_seq: u64,
    hash: String,
    replayed: bool,
}

fn spawn(db: &Path) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meterlab-store-ingestd"))
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let ready = read_json(&mut stdout).expect("daemon exited before it was ready");
    assert_eq!(ready["ready"], true, "{ready}");
    (child, stdout)
}

fn read_json(stdout: &mut impl BufRead) -> Option<Value> {
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // A line cut short by the kill was never fully printed, so it acknowledged nothing.
    if !line.ends_with('\n') {
        return None;
    }
    Some(serde_json::from_str(&line).unwrap())
}

fn watermark(child: &mut Child, stdout: &mut impl BufRead) -> u64 {
    let stdin = child.stdin.as_mut().unwrap();
    writeln!(
        stdin,
        "{{\"op\":\"watermark\",\"source\":\"{SOURCE}\",\"run\":\"{RUN}\"}}"
    )
    .unwrap();
    stdin.flush().unwrap();
    let answer = read_json(stdout).unwrap();
    answer["watermark"].as_u64().unwrap()
}

/// Results a client keeps in flight: it sends the next one only when fewer than this many are
/// unacknowledged, like a gRPC stream with a window. This keeps the kill in the middle of the
/// stream whatever the relative speed of the disk and the pipes.
const WINDOW: u64 = 64;

/// Acks received so far and whether the stream is over, shared with the sending thread.
#[derive(Default)]
struct Progress {
    state: Mutex<(u64, bool)>,
    changed: Condvar,
}

impl Progress {
    fn update(&self, f: impl FnOnce(&mut (u64, bool))) {
        f(&mut self.state.lock().unwrap());
        self.changed.notify_all();
    }
}

/// Streams `from..=TOTAL` on a writer thread and collects acks; kills the process with SIGKILL
/// after `kill_after` acks (if given). Returns the acks seen, keyed by result seq.
fn stream(
    mut child: Child,
    mut stdout: BufReader<std::process::ChildStdout>,
    from: u64,
    kill_after: Option<usize>,
) -> BTreeMap<u64, AckLine> {
    let mut stdin = child.stdin.take().unwrap();
    let progress = Arc::new(Progress::default());
    let sender_progress = Arc::clone(&progress);
    let writer = std::thread::spawn(move || {
        for (sent, seq) in (from..=TOTAL).enumerate() {
            let mut state = sender_progress.state.lock().unwrap();
            while !state.1 && sent as u64 >= state.0 + WINDOW {
                state = sender_progress.changed.wait(state).unwrap();
            }
            if state.1 {
                return; // the daemon is gone; the rest of the stream is lost, as for a client
            }
            drop(state);
            if stdin.write_all(request(seq).as_bytes()).is_err() {
                return;
            }
        }
    });
    let mut acks = BTreeMap::new();
    let mut killed = false;
    while let Some(line) = read_json(&mut stdout) {
        let Some(key) = line.get("ack") else {
            panic!("unexpected line from daemon: {line}");
        };
        let seq = key["seq"].as_u64().unwrap();
        let ack = AckLine {
            global_seq: line["global_seq"].as_u64().unwrap(),
            hash: line["hash"].as_str().unwrap().to_owned(),
            replayed: line["replayed"].as_bool().unwrap(),
        };
        assert!(
            acks.insert(seq, ack).is_none(),
            "seq {seq} acknowledged twice in one session"
        );
        progress.update(|state| state.0 += 1);
        if !killed && kill_after.is_some_and(|n| acks.len() >= n) {
            child.kill().unwrap(); // SIGKILL on Unix: no destructor, no flush, no clean close.
            killed = true;
        }
        // Acks already in the pipe at the time of the kill are still read: they were printed,
        // hence acknowledged, and must be durable.
    }
    progress.update(|state| state.1 = true);
    let status = child.wait().unwrap();
    writer.join().unwrap();
    if kill_after.is_some() {
        assert!(killed, "stream ended before the planned kill");
        assert!(
            !status.success(),
            "daemon was expected to die from SIGKILL: {status}"
        );
    } else {
        assert!(status.success(), "daemon failed: {status}");
    }
    acks
}

fn watermark_after(db: &Path) -> u64 {
    SqliteReader::open(db)
        .unwrap()
        .watermark(SOURCE, RUN)
        .unwrap()
}

#[test]
fn sigkill_mid_stream_loses_no_acknowledged_result() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let mut acknowledged: BTreeMap<u64, AckLine> = BTreeMap::new();
    let mut kills = 0;

    for round in 0..4 {
        let (mut child, mut stdout) = spawn(&db);
        let resume = watermark(&mut child, &mut stdout);
        // Three kills, each a quarter of the way into what is left to send; then a clean run.
        let kill_after = (round < 3).then(|| ((TOTAL - resume) / 4).max(1) as usize);
        // Every result acknowledged so far with no gap below it must be covered by the watermark.
        let contiguous = (1..).take_while(|s| acknowledged.contains_key(s)).count() as u64;
        assert!(
            resume >= contiguous,
            "watermark {resume} below the contiguously acknowledged {contiguous}"
        );
        let acks = stream(child, stdout, resume + 1, kill_after);
        eprintln!(
            "session {round}: resumed after {resume}, {} acks, killed: {}",
            acks.len(),
            kill_after.is_some()
        );
        if kill_after.is_some() {
            kills += 1;
            // The window bounds what can be durable but unacknowledged at a kill (plus results
            // stored above a gap by an earlier session, also at most one window).
            let unacked_committed = watermark_after(&db).saturating_sub(resume + acks.len() as u64);
            assert!(
                unacked_committed <= 2 * WINDOW,
                "{unacked_committed} results were committed without an ack reaching the client"
            );
            assert!(
                (acks.keys().max().copied().unwrap_or(0)) < TOTAL,
                "the kill came after the whole stream was acknowledged; the test proves nothing"
            );
        }
        for (seq, ack) in acks {
            match acknowledged.get(&seq) {
                // Acknowledged before a kill and above the watermark: resent, so it must be a
                // replay carrying the original acknowledgement.
                Some(original) => {
                    assert!(
                        ack.replayed,
                        "seq {seq} was acknowledged ({original:?}) but not durable: ingested anew as {ack:?}"
                    );
                    assert_eq!(
                        (ack.global_seq, &ack.hash),
                        (original.global_seq, &original.hash)
                    );
                }
                None => {
                    acknowledged.insert(seq, ack);
                }
            }
        }
    }
    assert_eq!(kills, 3);
    // Results committed but killed before their ack was printed are below the watermark and are
    // not resent, so fewer acks than results is expected; the log must still hold each once.
    assert!(acknowledged.len() as u64 <= TOTAL);

    let reader = SqliteReader::open(&db).unwrap();
    let events = reader.read_range(1, usize::MAX).unwrap();
    assert_eq!(events.len() as u64, TOTAL, "every result exactly once");
    let mut seen = BTreeMap::new();
    for event in &events {
        let key = event.key.clone().unwrap();
        assert_eq!((key.source.as_str(), key.run.as_str()), (SOURCE, RUN));
        assert_eq!(
            event.payload.body,
            format!("case {} passed", key.seq).into_bytes()
        );
        assert!(
            seen.insert(key.seq, event).is_none(),
            "seq {} stored twice",
            key.seq
        );
    }
    for (seq, ack) in &acknowledged {
        let stored = seen[seq];
        assert_eq!(
            stored.seq, ack.global_seq,
            "seq {seq} stored under another global seq"
        );
        assert_eq!(
            hex::encode(stored.hash),
            ack.hash,
            "seq {seq} hash differs from its ack"
        );
    }
    assert_eq!(reader.watermark(SOURCE, RUN).unwrap(), TOTAL);
    assert!(matches!(
        meterlab_store::chain::verify(&reader).unwrap(),
        Verification::Intact { events: TOTAL, .. }
    ));
}
