//! A run's result is stored only once its evidence document is kept: the file is named by the
//! document's hash and holds its bytes, and a document that cannot be kept (an evidence
//! directory that cannot be written, bytes that do not hash to the result's hash) refuses the
//! result, with nothing stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_server::GovernanceService as _;
use meterlab_runner::{CaseResult, CaseStatus};
use meterlab_store::{Store, StoreConfig};
use prost::Message as _;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;

use super::RunManager;
use super::record::{RunInner, RunRecord, result_source};
use crate::bench::Bench;
use crate::evidence::EvidenceStore;
use crate::ledger::Ledger;
use crate::serve_config::ServeConfig;

const DEVICES: &str = include_str!("../../../tests/fixtures/one_esme.devices.toml");

fn phase() -> pb::PhaseKey {
    pb::PhaseKey {
        entry: Some(pb::EntryKey {
            release: pb::CapabilityRelease::Moc.into(),
            smso_id: "smso-north".into(),
            dmc_id: "acme".into(),
        }),
        test_type: pb::TestType::Mt.into(),
        mode: pb::InstallationMode::Active.into(),
    }
}

struct Lab {
    _dir: tempfile::TempDir,
    ledger: Arc<Ledger>,
    evidence: Arc<EvidenceStore>,
    manager: RunManager,
    record: RunRecord,
}

/// A bench whose plugin is never loaded (results are handed to the store path directly), an
/// SQLite store with the phase planned, and a run record to store results under.
async fn lab() -> Lab {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for sub in ["plugins", "suites/mt", "dmcs"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    std::fs::write(root.join("plugins/libadapter.so"), b"never loaded").unwrap();
    std::fs::write(root.join("dmcs/acme.toml"), "# a DMC").unwrap();
    std::fs::write(root.join("bench.toml"), DEVICES).unwrap();
    let text = format!(
        "plugin_dir = \"plugins\"\ndevices = \"bench.toml\"\nsuites = \"suites\"\n\
         dmcs = \"dmcs\"\n[[plugin]]\nfile = \"libadapter.so\"\nsha256 = \"{}\"\n\
         smso = \"smso-north\"\n",
        hex::encode(Sha256::digest(b"never loaded"))
    );
    std::fs::write(root.join("serve.toml"), text).unwrap();
    let config = ServeConfig::load(&root.join("serve.toml")).unwrap();
    let bench = Arc::new(Bench::open(config.bench.unwrap(), config.limits).unwrap());
    let db = root.join("lab.sqlite");
    let store = Store::open_sqlite(&db, StoreConfig::default()).unwrap();
    let profile = meterlab_governance::load_profile(
        "illustrative.toml",
        meterlab_governance::profile::ILLUSTRATIVE_TOML,
    )
    .unwrap();
    let (ledger, _) = Ledger::open(store, profile).unwrap();
    let ledger = Arc::new(ledger);
    let governance = crate::GovernanceServiceImpl::new(ledger.clone());
    governance
        .register_entry(tonic::Request::new(pb::RegisterEntryRequest {
            entry: phase().entry,
            dmc: Some(pb::Dmc {
                id: "acme".into(),
                models: vec![pb::DeviceModelRef {
                    kind: pb::DeviceKind::CommsHub.into(),
                    manufacturer: "Acme".into(),
                    model: "ACME CH1".into(),
                    firmware_version: "1.4.0".into(),
                }],
            }),
            meta: None,
        }))
        .await
        .unwrap();
    governance
        .register_phase(tonic::Request::new(pb::RegisterPhaseRequest {
            phase: Some(phase()),
            ..Default::default()
        }))
        .await
        .unwrap();
    let evidence = Arc::new(EvidenceStore::beside(&db));
    evidence.prepare().unwrap();
    let manager = RunManager::new(bench, ledger.clone(), evidence.clone());
    let record = RunRecord::new(
        "gw-test-1".into(),
        "alice".into(),
        RunInner {
            state: pb::RunState::Running,
            events: Vec::new(),
            summary: pb::RunSummary::default(),
            request: pb::StartRunRequest::default(),
            tallies: Default::default(),
            stored_seq: 0,
            cancel: None,
            cancel_requested: None,
            cancelled: CancellationToken::new(),
        },
    );
    Lab {
        _dir: dir,
        ledger,
        evidence,
        manager,
        record,
    }
}

/// An attempt of `case` as the runner hands it over, with its evidence document.
fn attempt(case: &str, attempt: u32) -> CaseResult {
    let evidence_json = format!(
        "{{\"format\":\"meterlab-evidence/1\",\"run_id\":\"gw-test-1\",\"case_id\":\"{case}\",\
         \"attempt\":{attempt},\"steps\":[],\"traffic\":[]}}"
    );
    CaseResult {
        case_id: case.into(),
        case_sha256: [7; 32],
        srv: "8.1.1".into(),
        device_id: "esme1".into(),
        dmc_id: "acme".into(),
        attempt,
        max_attempts: 1,
        status: CaseStatus::Passed,
        detail: String::new(),
        steps: Vec::new(),
        traffic: Vec::new(),
        evidence_sha256: Sha256::digest(evidence_json.as_bytes()).into(),
        evidence_json,
        started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000),
        finished_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_001),
        elapsed: Duration::from_secs(1),
    }
}

/// The evidence hashes of the results stored in the log, in log order.
fn stored_evidence(ledger: &Ledger) -> Vec<Vec<u8>> {
    let events = ledger.store().read_range(1, 10_000).unwrap();
    events
        .iter()
        .filter(|e| e.payload.kind == crate::convert::result::RESULT_KIND)
        .map(|e| {
            pb::SubmitResult::decode(e.payload.body.as_slice())
                .unwrap()
                .result
                .unwrap()
                .evidence_sha256
        })
        .collect()
}

#[tokio::test]
async fn each_stored_result_has_its_evidence_file_named_by_its_hash() {
    let lab = lab().await;
    let source = result_source(&lab.record.run_id);
    let results = [attempt("MT-ACT-001", 1), attempt("MT-ACT-002", 1)];
    for result in &results {
        lab.manager
            .store_result(&lab.record, &source, result, &phase())
            .await
            .unwrap();
    }
    let stored = stored_evidence(&lab.ledger);
    assert_eq!(stored.len(), 2);
    for (result, hash) in results.iter().zip(&stored) {
        assert_eq!(hash, &result.evidence_sha256.to_vec());
        let path = lab.evidence.path_of(&hex::encode(hash));
        assert_eq!(
            path.file_name().unwrap().to_string_lossy(),
            format!("{}.json", hex::encode(hash))
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            result.evidence_json.as_bytes()
        );
    }
    // The same result again (a retried store) is idempotent, evidence included.
    let before = std::fs::read_dir(lab.evidence.dir()).unwrap().count();
    lab.manager
        .store_result(&lab.record, &source, &results[0], &phase())
        .await
        .ok();
    assert_eq!(
        std::fs::read_dir(lab.evidence.dir()).unwrap().count(),
        before
    );
}

#[tokio::test]
async fn a_result_whose_evidence_cannot_be_kept_is_refused_and_not_stored() {
    let lab = lab().await;
    let source = result_source(&lab.record.run_id);
    lab.manager
        .store_result(&lab.record, &source, &attempt("MT-ACT-001", 1), &phase())
        .await
        .unwrap();

    // The evidence directory becomes unwritable (a file where it was: refused even as root).
    std::fs::remove_dir_all(lab.evidence.dir()).unwrap();
    std::fs::write(lab.evidence.dir(), b"not a directory").unwrap();
    let second = attempt("MT-ACT-002", 1);
    let refusal = lab
        .manager
        .store_result(&lab.record, &source, &second, &phase())
        .await
        .expect_err("no evidence, no result");
    let text = refusal.to_string();
    assert!(text.contains("evidence was not kept"), "{text}");
    assert!(
        text.contains(&hex::encode(second.evidence_sha256)),
        "{text}"
    );
    assert_eq!(stored_evidence(&lab.ledger).len(), 1, "nothing was stored");

    // Bytes that do not hash to the result's hash are refused as well.
    std::fs::remove_file(lab.evidence.dir()).unwrap();
    let mut forged = attempt("MT-ACT-003", 1);
    forged.evidence_json.push(' ');
    let refusal = lab
        .manager
        .store_result(&lab.record, &source, &forged, &phase())
        .await
        .expect_err("a document of another hash");
    assert!(refusal.to_string().contains("refused"), "{refusal}");
    assert_eq!(stored_evidence(&lab.ledger).len(), 1, "nothing was stored");
    assert!(
        lab.evidence
            .get(&hex::encode(forged.evidence_sha256))
            .unwrap()
            .is_none()
    );
}
