//! The gateway keeps the evidence of its own runs, and exports it in bundles. With the real
//! binaries (`meterlab emulate` + `meterlab serve --config` with a bench): a run started with
//! `meterlab runs start --gateway` stores each result only with its evidence document kept
//! beside the store (`lab.sqlite.evidence/<sha256>.json`); `meterlab report --gateway --bundle`
//! then has the evidence of every attempt, laid out as `meterlab report --db --evidence` lays it
//! out; `meterlab report verify` accepts the bundle and names a step log tampered with.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_support;
mod run_support;

use std::collections::BTreeMap;
use std::path::Path;

use bench_support::{
    BenchOptions, NORTH_ENTRY, adapter, json, meterlab, plan_north_mt_active, said, serve,
    write_bench_config,
};
use run_support::start_emulator;
use sha2::{Digest as _, Sha256};

/// The evidence hash of every result stored for `source`.
fn stored_evidence(db: &Path, source: &str) -> Vec<String> {
    bench_support::stored_results(db, source)
        .into_iter()
        .map(|(_, result)| hex::encode(result.evidence_sha256))
        .collect()
}

/// Starts the shipped MT active suite on the gateway at `url`, watches it to its end and
/// answers its id and summary.
async fn run_mt_active(url: &str) -> (String, serde_json::Value) {
    let started = meterlab(&[
        "runs",
        "start",
        "--suite",
        "mt-active",
        "--entry",
        NORTH_ENTRY,
        "--phase",
        "mt.active",
        "--gateway",
        url,
        "--output",
        "json",
    ])
    .await;
    assert!(started.status.success(), "{}", said(&started));
    let run_id = json(&started)["run_id"].as_str().unwrap().to_owned();
    let watched = meterlab(&["runs", "watch", &run_id, "--gateway", url]).await;
    assert!(watched.status.code().is_some(), "{}", said(&watched));
    let summary = json(
        &meterlab(&[
            "runs",
            "show",
            &run_id,
            "--gateway",
            url,
            "--output",
            "json",
        ])
        .await,
    );
    (run_id, summary)
}

/// Every file of a bundle directory by its path inside it.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_run_bundles_with_the_evidence_of_every_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let emulator = start_emulator(d, &[]).await;
    let config = write_bench_config(d, &emulator.devices, &adapter(), BenchOptions::default());
    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let channel = bench_support::channel(url.clone()).await;
    plan_north_mt_active(channel).await;

    let (run_id, summary) = run_mt_active(&url).await;
    assert_eq!(summary["state"], "finished", "{summary}");

    // Every stored result has its document beside the store, named by its hash.
    let db = d.join("lab.sqlite");
    let kept = d.join("lab.sqlite.evidence");
    let hashes = stored_evidence(&db, &format!("gateway-run/{run_id}"));
    assert!(hashes.len() >= 10, "only {} results", hashes.len());
    for hash in &hashes {
        let bytes = std::fs::read(kept.join(format!("{hash}.json")))
            .unwrap_or_else(|e| panic!("no evidence file for {hash}: {e}"));
        assert_eq!(&hex::encode(Sha256::digest(&bytes)), hash);
    }
    let n = hashes.len();

    // The bundle from the gateway: evidence of every attempt, and it verifies.
    let remote = d.join("remote");
    let exported = meterlab(&[
        "report",
        "--gateway",
        &url,
        "--entry",
        NORTH_ENTRY,
        "--bundle",
        remote.to_str().unwrap(),
        "--out",
        d.join("remote.md").to_str().unwrap(),
    ])
    .await;
    assert!(exported.status.success(), "{}", said(&exported));
    assert!(
        said(&exported).contains(&format!("evidence of {n} of {n} stored attempt(s)")),
        "{}",
        said(&exported)
    );
    let verified = meterlab(&["report", "verify", remote.to_str().unwrap()]).await;
    assert!(verified.status.success(), "{}", said(&verified));

    // Laid out as the local bundle of the same store with the same documents lays it out.
    let local = d.join("local");
    let made = meterlab(&[
        "report",
        "--db",
        db.to_str().unwrap(),
        "--entry",
        NORTH_ENTRY,
        "--bundle",
        local.to_str().unwrap(),
        "--evidence",
        kept.to_str().unwrap(),
        "--out",
        d.join("local.md").to_str().unwrap(),
    ])
    .await;
    assert!(made.status.success(), "{}", said(&made));
    let (remote_files, local_files) = (files(&remote), files(&local));
    assert_eq!(
        remote_files.keys().collect::<Vec<_>>(),
        local_files.keys().collect::<Vec<_>>()
    );
    let steps: Vec<&String> = remote_files
        .keys()
        .filter(|name| name.starts_with("steps/"))
        .collect();
    assert_eq!(steps.len(), n, "a step log per attempt");
    assert_eq!(
        remote_files
            .keys()
            .filter(|name| name.starts_with("captures/"))
            .count(),
        n,
        "a traffic capture per attempt"
    );
    for (name, bytes) in &remote_files {
        if name.starts_with("evidence/")
            || name.starts_with("steps/")
            || name.starts_with("captures/")
        {
            assert_eq!(bytes, &local_files[name], "{name} differs");
        }
    }

    // A step log changed after sealing is named by verify.
    let tampered = steps[0].clone();
    let path = remote.join(&tampered);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("step 99 (forged): passed\n");
    std::fs::write(&path, text).unwrap();
    let verified = meterlab(&["report", "verify", remote.to_str().unwrap()]).await;
    assert_eq!(verified.status.code(), Some(1), "{}", said(&verified));
    assert!(said(&verified).contains(&tampered), "{}", said(&verified));

    server.start_kill().unwrap();
    server.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_evidence_cannot_be_kept_stores_nothing_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let emulator = start_emulator(d, &[]).await;
    let config = write_bench_config(d, &emulator.devices, &adapter(), BenchOptions::default());
    let (mut server, addr) = serve(&config).await;
    let url = format!("http://{addr}");
    let channel = bench_support::channel(url.clone()).await;
    plan_north_mt_active(channel).await;
    // The evidence directory (created at start) is replaced by a file: nothing can be kept
    // there, whoever the gateway runs as.
    let kept = d.join("lab.sqlite.evidence");
    assert!(kept.is_dir(), "the gateway prepares its evidence directory");
    std::fs::remove_dir_all(&kept).unwrap();
    std::fs::write(&kept, b"not a directory").unwrap();

    let (run_id, summary) = run_mt_active(&url).await;
    assert_eq!(summary["state"], "errored", "{summary}");
    let error = summary["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("evidence was not kept") && error.contains("lab.sqlite.evidence"),
        "{summary}"
    );
    let stored = stored_evidence(&d.join("lab.sqlite"), &format!("gateway-run/{run_id}"));
    assert!(
        stored.is_empty(),
        "{} result(s) stored without their evidence",
        stored.len()
    );
    server.start_kill().unwrap();
    server.wait().await.unwrap();
}
