//! A backend implemented outside the crate (as a PostgreSQL one would be) whose commit can be made
//! to fail: a failed commit must acknowledge nothing and leave no trace, and the store keeps
//! working afterwards.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use meterlab_store::{
    Backend, ChainHead, Checkpoint, IngestKey, MemoryBackend, Payload, ReaderOpener, Store,
    StoreConfig, StoreError, StoredEvent, Verification, WriteTx,
};

struct FlakyBackend {
    inner: MemoryBackend,
    fail_commit: Arc<AtomicBool>,
}

struct FlakyTx<'a> {
    inner: <MemoryBackend as Backend>::Tx<'a>,
    fail: bool,
}

impl Backend for FlakyBackend {
    type Reader = <MemoryBackend as Backend>::Reader;
    type Tx<'a> = FlakyTx<'a>;

    fn location(&self) -> String {
        "flaky".into()
    }
    fn reader_opener(&self) -> ReaderOpener<Self::Reader> {
        self.inner.reader_opener()
    }
    fn begin(&mut self) -> meterlab_store::Result<FlakyTx<'_>> {
        Ok(FlakyTx {
            inner: self.inner.begin()?,
            fail: self.fail_commit.load(Ordering::SeqCst),
        })
    }
}

impl WriteTx for FlakyTx<'_> {
    fn head(&mut self) -> meterlab_store::Result<Option<ChainHead>> {
        self.inner.head()
    }
    fn get_by_key(&mut self, key: &IngestKey) -> meterlab_store::Result<Option<StoredEvent>> {
        self.inner.get_by_key(key)
    }
    fn key_exists(&mut self, source: &str, run: &str, seq: u64) -> meterlab_store::Result<bool> {
        self.inner.key_exists(source, run, seq)
    }
    fn insert(&mut self, event: &StoredEvent) -> meterlab_store::Result<()> {
        self.inner.insert(event)
    }
    fn watermark(&mut self, source: &str, run: &str) -> meterlab_store::Result<u64> {
        self.inner.watermark(source, run)
    }
    fn set_watermark(&mut self, source: &str, run: &str, w: u64) -> meterlab_store::Result<()> {
        self.inner.set_watermark(source, run, w)
    }
    fn put_checkpoint(&mut self, checkpoint: &Checkpoint) -> meterlab_store::Result<()> {
        self.inner.put_checkpoint(checkpoint)
    }
    fn commit(self) -> meterlab_store::Result<()> {
        if self.fail {
            // Dropping `inner` uncommitted rolls it back, as a failed COMMIT does.
            return Err(StoreError::Io {
                path: "flaky".into(),
                op: "commit",
                source: Arc::new(std::io::Error::other("disk full")),
            });
        }
        self.inner.commit()
    }
}

#[test]
fn failed_commit_acknowledges_nothing() {
    let fail_commit = Arc::new(AtomicBool::new(false));
    let store = Store::start(
        FlakyBackend {
            inner: MemoryBackend::new(),
            fail_commit: Arc::clone(&fail_commit),
        },
        StoreConfig::default(),
    )
    .unwrap();
    let payload = |n: u64| Payload::new("case_result", n.to_be_bytes().to_vec());
    let key = |n: u64| IngestKey::new("src", "run", n);

    store.ingest_blocking(key(1), payload(1), 0).unwrap();

    fail_commit.store(true, Ordering::SeqCst);
    let err = store.ingest_blocking(key(2), payload(2), 0).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(!err.is_rejection());
    assert_eq!(store.watermark("src", "run").unwrap(), 1);
    assert_eq!(store.head().unwrap().seq, 1);
    assert!(store.get(&key(2)).unwrap().is_none());

    fail_commit.store(false, Ordering::SeqCst);
    let retried = store.ingest_blocking(key(2), payload(2), 0).unwrap();
    assert!(
        !retried.replayed,
        "the failed attempt must not have been stored"
    );
    assert_eq!(retried.ack.global_seq, 2);
    assert_eq!(store.watermark("src", "run").unwrap(), 2);
    assert!(matches!(
        store.verify().unwrap(),
        Verification::Intact { events: 2, .. }
    ));
}
