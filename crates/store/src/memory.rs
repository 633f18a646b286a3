//! An in-memory backend for tests of code above the store (no durability). Clones share one log,
//! so dropping a `Store` and starting another on a clone simulates a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::backend::{Backend, Checkpoint, LogReader, ReaderOpener, WriteTx};
use crate::error::Result;
use crate::event::{ChainHead, IngestKey, StoredEvent};

#[derive(Debug, Default)]
struct MemState {
    events: Vec<StoredEvent>,
    by_key: HashMap<IngestKey, usize>,
    watermarks: HashMap<(String, String), u64>,
    checkpoints: HashMap<String, Checkpoint>,
}

impl MemState {
    fn head(&self) -> Option<ChainHead> {
        self.events.last().map(|e| ChainHead {
            seq: e.seq,
            hash: e.hash,
        })
    }

    fn get_by_key(&self, key: &IngestKey) -> Option<StoredEvent> {
        self.by_key.get(key).map(|&i| self.events[i].clone())
    }

    fn watermark(&self, source: &str, run: &str) -> u64 {
        self.watermarks
            .get(&(source.to_owned(), run.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

fn lock(state: &Mutex<MemState>) -> MutexGuard<'_, MemState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A log held in memory. Not durable: for tests only.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    state: Arc<Mutex<MemState>>,
}

impl MemoryBackend {
    /// An empty log.
    pub fn new() -> Self {
        MemoryBackend::default()
    }
}

impl Backend for MemoryBackend {
    type Reader = MemoryReader;
    type Tx<'a> = MemoryTx<'a>;

    fn location(&self) -> String {
        "memory".to_owned()
    }

    fn reader_opener(&self) -> ReaderOpener<MemoryReader> {
        let state = Arc::clone(&self.state);
        Arc::new(move || {
            Ok(MemoryReader {
                state: Arc::clone(&state),
            })
        })
    }

    fn begin(&mut self) -> Result<MemoryTx<'_>> {
        let state = lock(&self.state);
        let base_len = state.events.len();
        Ok(MemoryTx {
            state,
            base_len,
            undo_watermarks: Vec::new(),
            undo_checkpoints: Vec::new(),
            committed: false,
        })
    }
}

/// Reader of a [`MemoryBackend`]; the writer holds the lock for a whole transaction, so readers
/// only ever see committed state.
#[derive(Debug)]
pub struct MemoryReader {
    state: Arc<Mutex<MemState>>,
}

impl LogReader for MemoryReader {
    fn location(&self) -> &str {
        "memory"
    }

    fn head(&self) -> Result<Option<ChainHead>> {
        Ok(lock(&self.state).head())
    }

    fn read_range(&self, from_seq: u64, limit: usize) -> Result<Vec<StoredEvent>> {
        let state = lock(&self.state);
        let start = usize::try_from(from_seq.saturating_sub(1)).unwrap_or(usize::MAX);
        Ok(state
            .events
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect())
    }

    fn get_by_key(&self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        Ok(lock(&self.state).get_by_key(key))
    }

    fn watermark(&self, source: &str, run: &str) -> Result<u64> {
        Ok(lock(&self.state).watermark(source, run))
    }

    fn checkpoint(&self, projection: &str) -> Result<Option<Checkpoint>> {
        Ok(lock(&self.state).checkpoints.get(projection).cloned())
    }
}

/// A transaction on a [`MemoryBackend`]: changes are applied in place and undone on drop unless
/// committed.
#[derive(Debug)]
pub struct MemoryTx<'a> {
    state: MutexGuard<'a, MemState>,
    base_len: usize,
    undo_watermarks: Vec<((String, String), Option<u64>)>,
    undo_checkpoints: Vec<(String, Option<Checkpoint>)>,
    committed: bool,
}

impl WriteTx for MemoryTx<'_> {
    fn head(&mut self) -> Result<Option<ChainHead>> {
        Ok(self.state.head())
    }

    fn get_by_key(&mut self, key: &IngestKey) -> Result<Option<StoredEvent>> {
        Ok(self.state.get_by_key(key))
    }

    fn key_exists(&mut self, source: &str, run: &str, seq: u64) -> Result<bool> {
        Ok(self
            .state
            .by_key
            .contains_key(&IngestKey::new(source, run, seq)))
    }

    fn insert(&mut self, event: &StoredEvent) -> Result<()> {
        let index = self.state.events.len();
        if let Some(key) = &event.key {
            self.state.by_key.insert(key.clone(), index);
        }
        self.state.events.push(event.clone());
        Ok(())
    }

    fn watermark(&mut self, source: &str, run: &str) -> Result<u64> {
        Ok(self.state.watermark(source, run))
    }

    fn set_watermark(&mut self, source: &str, run: &str, watermark: u64) -> Result<()> {
        let key = (source.to_owned(), run.to_owned());
        let old = self.state.watermarks.insert(key.clone(), watermark);
        self.undo_watermarks.push((key, old));
        Ok(())
    }

    fn put_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        let name = checkpoint.projection.clone();
        let old = self
            .state
            .checkpoints
            .insert(name.clone(), checkpoint.clone());
        self.undo_checkpoints.push((name, old));
        Ok(())
    }

    fn commit(mut self) -> Result<()> {
        self.committed = true;
        Ok(())
    }
}

impl Drop for MemoryTx<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let state = &mut *self.state;
        for event in state.events.drain(self.base_len..) {
            if let Some(key) = event.key {
                state.by_key.remove(&key);
            }
        }
        for (key, old) in self.undo_watermarks.drain(..).rev() {
            match old {
                Some(w) => state.watermarks.insert(key, w),
                None => state.watermarks.remove(&key),
            };
        }
        for (name, old) in self.undo_checkpoints.drain(..).rev() {
            match old {
                Some(cp) => state.checkpoints.insert(name, cp),
                None => state.checkpoints.remove(&name),
            };
        }
    }
}
