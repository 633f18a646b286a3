//! Where a gateway keeps its runs' evidence: beside an SQLite store by default, in a configured
//! directory otherwise; a bench with nowhere to keep it (a store that is not a file, e.g.
//! PostgreSQL, and no directory configured), or with a directory that cannot be made, is refused
//! when it is opened — not at its first result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use meterlab_server::serve_config::ServeConfig;
use meterlab_server::{Gateway, GatewayConfig, ServerError, StreamLimits};
use meterlab_store::{Store, StoreConfig};
use sha2::{Digest as _, Sha256};

const DEVICES: &str = include_str!("fixtures/one_esme.devices.toml");

fn profile() -> meterlab_governance::Profile {
    meterlab_governance::load_profile(
        "illustrative.toml",
        meterlab_governance::profile::ILLUSTRATIVE_TOML,
    )
    .unwrap()
}

/// A serve config with a bench (its plugin is never loaded) in `root`.
fn bench_config(root: &std::path::Path) -> ServeConfig {
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
    ServeConfig::load(&root.join("serve.toml")).unwrap()
}

#[tokio::test]
async fn an_sqlite_store_keeps_evidence_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = bench_config(dir.path());
    let db = dir.path().join("lab.sqlite");
    let gateway = Gateway::open(GatewayConfig {
        db: db.clone(),
        profile: profile(),
        limits: StreamLimits::default(),
        store: StoreConfig::default(),
    })
    .await
    .unwrap();
    let beside = dir.path().join("lab.sqlite.evidence");
    assert_eq!(gateway.evidence_dir(), Some(beside.as_path()));
    assert!(!beside.exists(), "no bench, nothing to keep yet");
    let _gateway = gateway.with_bench(config.bench.unwrap()).unwrap();
    assert!(
        beside.is_dir(),
        "a bench's evidence directory is made at start"
    );
}

#[tokio::test]
async fn a_bench_with_nowhere_to_keep_evidence_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = bench_config(dir.path());
    // A store opened by the caller (as a PostgreSQL one is): no file to keep evidence beside.
    let store = Store::open_sqlite(dir.path().join("lab.db"), StoreConfig::default()).unwrap();
    let gateway = Gateway::with_store(store, profile(), StreamLimits::default())
        .await
        .unwrap();
    assert_eq!(gateway.evidence_dir(), None);
    let error = gateway
        .with_bench(config.bench.clone().unwrap())
        .expect_err("nowhere to keep evidence");
    assert!(matches!(error, ServerError::NoEvidenceDir), "{error}");
    assert!(error.to_string().contains("evidence_dir"), "{error}");

    // A configured directory that cannot be made (a file is in the way) is named.
    let blocked = dir.path().join("blocked");
    std::fs::write(&blocked, b"a file").unwrap();
    let store = Store::open_sqlite(dir.path().join("lab2.db"), StoreConfig::default()).unwrap();
    let error = Gateway::with_store(store, profile(), StreamLimits::default())
        .await
        .unwrap()
        .with_evidence_dir(&blocked)
        .with_bench(config.bench.clone().unwrap())
        .expect_err("an unusable evidence directory");
    assert!(
        error.to_string().contains(&blocked.display().to_string()),
        "{error}"
    );

    // A usable one is made.
    let kept = dir.path().join("kept/evidence");
    let store = Store::open_sqlite(dir.path().join("lab3.db"), StoreConfig::default()).unwrap();
    let gateway = Gateway::with_store(store, profile(), StreamLimits::default())
        .await
        .unwrap()
        .with_evidence_dir(&kept)
        .with_bench(config.bench.unwrap())
        .unwrap();
    assert_eq!(gateway.evidence_dir(), Some(kept.as_path()));
    assert!(kept.is_dir());
}
