//! The evidence documents of the gateway's own runs (RunService), kept beside the store: one
//! file per document, `<hex SHA-256>.json`, in an evidence directory (by default
//! `<sqlite store>.evidence/`; for a PostgreSQL store the serve config's `evidence_dir`).
//!
//! A run's result names its evidence only by hash, so the document is written (temporary file,
//! fsync, rename, fsync of the directory) before the result is stored: a result in the log
//! always has its document here, and ExportResults can put it in an evidence bundle. Results
//! streamed by clients through ResultService carry a hash only; their documents stay with the
//! client (`meterlab run --evidence-dir`).
//!
//! Named by content, a document is written once: the same document again finds it in place.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

/// Why an evidence document was not kept or cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The document's bytes do not hash to the SHA-256 its result names.
    #[error("evidence document of {expected} hashes to {actual}: refused")]
    HashMismatch {
        /// The hash the result names (hex).
        expected: String,
        /// The hash of the bytes given (hex).
        actual: String,
    },
    /// A file or the directory could not be written or made durable.
    #[error("evidence {sha256}: cannot write {path}: {source}")]
    Write {
        /// The document's hash (hex).
        sha256: String,
        /// What could not be written.
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A kept document could not be read.
    #[error("evidence {sha256}: cannot read {path}: {source}")]
    Read {
        /// The document's hash (hex).
        sha256: String,
        /// The file.
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A kept document no longer hashes to its name (changed on disk after it was written).
    #[error("evidence file {path} hashes to {actual}, not to its name {sha256}: it has changed")]
    Changed {
        /// The name's hash (hex).
        sha256: String,
        /// The file.
        path: String,
        /// The hash of its bytes (hex).
        actual: String,
    },
    /// Not a SHA-256 in hex (64 digits).
    #[error("{0:?} is not a SHA-256 (64 hex digits)")]
    NotAHash(String),
}

/// The evidence directory of a gateway.
#[derive(Debug)]
pub struct EvidenceStore {
    dir: PathBuf,
    /// Names temporary files apart when two writers keep the same document at once.
    next_tmp: AtomicU64,
}

impl EvidenceStore {
    /// The evidence kept in `dir` (created when the first document is kept, or by
    /// [`EvidenceStore::prepare`]).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            next_tmp: AtomicU64::new(0),
        }
    }

    /// The default directory of an SQLite store file: `<db>.evidence` beside it.
    pub fn beside(db: &Path) -> Self {
        let mut dir = db.as_os_str().to_owned();
        dir.push(".evidence");
        Self::new(PathBuf::from(dir))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file a document with this hash (hex) is kept in.
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.json"))
    }

    /// Creates the directory (and makes its entry durable) so that a gateway which cannot
    /// keep evidence says so at start rather than at its first result. Blocking.
    pub fn prepare(&self) -> Result<(), EvidenceError> {
        self.ensure_dir("")
    }

    fn ensure_dir(&self, sha256: &str) -> Result<(), EvidenceError> {
        let failed = |path: &Path, source| EvidenceError::Write {
            sha256: sha256.to_owned(),
            path: path.display().to_string(),
            source,
        };
        if self.dir.is_dir() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| failed(&self.dir, e))?;
        if let Some(parent) = self.dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent).map_err(|e| failed(parent, e))?;
        }
        Ok(())
    }

    /// Keeps `bytes` as the document `sha256` names, durably, before returning; refuses bytes
    /// that hash to anything else. The same document again is fine (a kept copy that has
    /// changed on disk is replaced). Blocking.
    pub fn put(&self, sha256: &[u8], bytes: &[u8]) -> Result<PathBuf, EvidenceError> {
        let expected = hex::encode(sha256);
        let actual = hex::encode(Sha256::digest(bytes));
        if actual != expected {
            return Err(EvidenceError::HashMismatch { expected, actual });
        }
        self.ensure_dir(&expected)?;
        let failed = |path: &Path, source| EvidenceError::Write {
            sha256: expected.clone(),
            path: path.display().to_string(),
            source,
        };
        let path = self.path_of(&expected);
        if let Ok(kept) = std::fs::read(&path)
            && hex::encode(Sha256::digest(&kept)) == expected
        {
            // Kept before; its rename may not have been made durable if that writer stopped.
            sync_dir(&self.dir).map_err(|e| failed(&self.dir, e))?;
            return Ok(path);
        }
        let tmp = self.dir.join(format!(
            ".{expected}.{}.{}.tmp",
            std::process::id(),
            self.next_tmp.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(&tmp, e));
        }
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(&path, e));
        }
        sync_dir(&self.dir).map_err(|e| failed(&self.dir, e))?;
        Ok(path)
    }

    /// The document `sha256` (hex) names, checked against its name; `None` when it is not kept
    /// here. Blocking.
    pub fn get(&self, sha256: &str) -> Result<Option<Vec<u8>>, EvidenceError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(EvidenceError::NotAHash(sha256.to_owned()));
        }
        let sha256 = sha256.to_ascii_lowercase();
        let path = self.path_of(&sha256);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(EvidenceError::Read {
                    sha256,
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != sha256 {
            return Err(EvidenceError::Changed {
                sha256,
                path: path.display().to_string(),
                actual,
            });
        }
        Ok(Some(bytes))
    }
}

/// Makes the entries of `dir` (a rename, a new file) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn hash(bytes: &[u8]) -> Vec<u8> {
        Sha256::digest(bytes).to_vec()
    }

    #[test]
    fn a_document_is_kept_under_its_hash_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = EvidenceStore::beside(&dir.path().join("lab.sqlite"));
        assert_eq!(store.dir(), dir.path().join("lab.sqlite.evidence"));
        let doc = br#"{"format":"meterlab-evidence/1"}"#;
        let path = store.put(&hash(doc), doc).unwrap();
        assert_eq!(path, store.path_of(&hex::encode(hash(doc))));
        assert_eq!(std::fs::read(&path).unwrap(), doc);
        assert_eq!(
            store.get(&hex::encode(hash(doc))).unwrap().as_deref(),
            Some(&doc[..])
        );
        // Again: the same file, nothing else left behind.
        assert_eq!(store.put(&hash(doc), doc).unwrap(), path);
        let names: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        assert_eq!(store.get(&"ab".repeat(32)).unwrap(), None);
    }

    #[test]
    fn bytes_that_do_not_hash_to_the_name_are_refused_and_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = EvidenceStore::new(dir.path().join("ev"));
        let error = store.put(&hash(b"one"), b"two").unwrap_err();
        assert!(
            matches!(error, EvidenceError::HashMismatch { ref expected, .. } if *expected == hex::encode(hash(b"one"))),
            "{error}"
        );
        assert!(store.get(&hex::encode(hash(b"one"))).unwrap().is_none());
        assert!(store.get(&hex::encode(hash(b"two"))).unwrap().is_none());
    }

    #[test]
    fn a_changed_file_is_named_on_read_and_replaced_on_the_next_put() {
        let dir = tempfile::tempdir().unwrap();
        let store = EvidenceStore::new(dir.path().join("ev"));
        let doc = b"{\"steps\":[]}";
        let name = hex::encode(hash(doc));
        let path = store.put(&hash(doc), doc).unwrap();
        std::fs::write(&path, b"{\"steps\":[1]}").unwrap();
        let error = store.get(&name).unwrap_err();
        assert!(error.to_string().contains(&name), "{error}");
        assert!(matches!(error, EvidenceError::Changed { .. }), "{error}");
        store.put(&hash(doc), doc).unwrap();
        assert_eq!(store.get(&name).unwrap().as_deref(), Some(&doc[..]));
        assert!(matches!(
            store.get("not-a-hash"),
            Err(EvidenceError::NotAHash(_))
        ));
    }

    #[test]
    fn a_directory_that_cannot_be_written_is_an_error_naming_the_document() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the directory should be: not writable even as root.
        let blocked = dir.path().join("ev");
        std::fs::write(&blocked, b"").unwrap();
        let store = EvidenceStore::new(&blocked);
        assert!(store.prepare().is_err());
        let doc = b"{}";
        let error = store.put(&hash(doc), doc).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(&hex::encode(hash(doc))), "{text}");
        assert!(text.contains("cannot write"), "{text}");
    }
}
