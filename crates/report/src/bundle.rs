//! Sealed evidence bundles: a directory (or one zip file, [`write_bundle_zip`]) holding the
//! report, per-case step logs, the raw traffic captures and `MANIFEST.sha256`, which lists the
//! SHA-256 of every other file (`sha256sum` format, sorted by path). [`verify_bundle`] names the
//! first file that changed, is missing or is not in the manifest, for both forms.
//!
//! The manifest seals the files against each other; whoever keeps the manifest's own SHA-256
//! (printed when the bundle is written, e.g. into a ticket) seals the manifest too.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{BundleError, ManifestLineError};

mod archive;

pub use archive::{verify_zip_bytes, write_bundle_zip, zip_bundle_bytes};

/// The manifest's file name at the bundle's root.
pub const MANIFEST: &str = "MANIFEST.sha256";

/// One file to put in a bundle; `name` is a relative path with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl BundleFile {
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        BundleFile {
            name: name.into(),
            bytes: bytes.into(),
        }
    }
}

/// A written bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub files: usize,
    /// Hex SHA-256 of `MANIFEST.sha256`.
    pub manifest_sha256: String,
}

/// What is wrong with one file of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Changed {
        name: String,
        expected: String,
        actual: String,
    },
    Missing {
        name: String,
    },
    /// On disk but not in the manifest (or not a regular file).
    Extra {
        name: String,
    },
    /// A zip entry whose content cannot be read back (its CRC or its deflate stream is broken):
    /// its bytes were changed inside the zip.
    Damaged {
        name: String,
        reason: String,
    },
}

impl Problem {
    pub fn name(&self) -> &str {
        match self {
            Problem::Changed { name, .. }
            | Problem::Missing { name }
            | Problem::Extra { name }
            | Problem::Damaged { name, .. } => name,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Changed {
                name,
                expected,
                actual,
            } => write!(
                f,
                "{name} changed: its SHA-256 is {actual}, the manifest says {expected}"
            ),
            Problem::Missing { name } => write!(f, "{name} is in the manifest but missing"),
            Problem::Extra { name } => write!(f, "{name} is not in the manifest"),
            Problem::Damaged { name, reason } => write!(
                f,
                "{name} changed: its bytes in the zip no longer read back ({reason})"
            ),
        }
    }
}

/// The result of checking a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Files listed in the manifest.
    pub files: usize,
    pub manifest_sha256: String,
    /// Every problem; the first in manifest order (then extra files, sorted) comes first.
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

fn check_name(name: &str) -> Result<(), BundleError> {
    let bad = || BundleError::BadName {
        name: name.to_string(),
    };
    if name.is_empty() || name == MANIFEST || name.contains('\\') || name.contains('\n') {
        return Err(bad());
    }
    let path = Path::new(name);
    if path.is_absolute()
        || name
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(bad());
    }
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(bad());
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `files` by name, every name checked and given once.
fn sorted_files(files: &[BundleFile]) -> Result<BTreeMap<&str, &BundleFile>, BundleError> {
    let mut by_name: BTreeMap<&str, &BundleFile> = BTreeMap::new();
    for f in files {
        check_name(&f.name)?;
        if by_name.insert(f.name.as_str(), f).is_some() {
            return Err(BundleError::Duplicate {
                name: f.name.clone(),
            });
        }
    }
    Ok(by_name)
}

fn manifest_text(by_name: &BTreeMap<&str, &BundleFile>) -> String {
    let mut manifest = String::new();
    for (name, file) in by_name {
        manifest.push_str(&sha256_hex(&file.bytes));
        manifest.push_str("  ");
        manifest.push_str(name);
        manifest.push('\n');
    }
    manifest
}

/// Writes `files` and their manifest into `dir`, which must not exist yet.
pub fn write_bundle(dir: &Path, files: &[BundleFile]) -> Result<Sealed, BundleError> {
    let by_name = sorted_files(files)?;
    if dir.exists() {
        return Err(BundleError::Exists {
            path: dir.to_path_buf(),
        });
    }
    fs::create_dir_all(dir).map_err(BundleError::io(dir))?;
    for (name, file) in &by_name {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(BundleError::io(parent))?;
        }
        fs::write(&path, &file.bytes).map_err(BundleError::io(&path))?;
    }
    let manifest = manifest_text(&by_name);
    let manifest_path = dir.join(MANIFEST);
    fs::write(&manifest_path, &manifest).map_err(BundleError::io(&manifest_path))?;
    tracing::info!(dir = %dir.display(), files = by_name.len(), "evidence bundle sealed");
    Ok(Sealed {
        files: by_name.len(),
        manifest_sha256: sha256_hex(manifest.as_bytes()),
    })
}

/// One line of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Lower-case hex.
    pub sha256: String,
    pub name: String,
}

/// Parses a manifest: `<64 hex digits>  <relative path>` per line, each path once.
pub fn parse_manifest(text: &str) -> Result<Vec<ManifestEntry>, ManifestLineError> {
    let mut entries = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let err = |message: String| ManifestLineError {
            line: i + 1,
            message,
        };
        let Some((hash, name)) = line.split_once("  ") else {
            return Err(err(
                "expected \"<64 hex digits>  <path>\" (two spaces)".to_string()
            ));
        };
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(err(format!("{hash:?} is not a SHA-256 in hex")));
        }
        check_name(name).map_err(|e| err(e.to_string()))?;
        if !seen.insert(name.to_string()) {
            return Err(err(format!("{name} is listed twice")));
        }
        entries.push(ManifestEntry {
            sha256: hash.to_ascii_lowercase(),
            name: name.to_string(),
        });
    }
    Ok(entries)
}

/// Every path under `dir` (relative, `/`-separated), regular files and others apart.
fn walk(
    dir: &Path,
    prefix: &str,
    files: &mut BTreeSet<String>,
    others: &mut BTreeSet<String>,
) -> Result<(), BundleError> {
    let entries = fs::read_dir(dir).map_err(BundleError::io(dir))?;
    for entry in entries {
        let entry = entry.map_err(BundleError::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let kind = entry.file_type().map_err(BundleError::io(entry.path()))?;
        if kind.is_dir() {
            walk(&entry.path(), &rel, files, others)?;
        } else if kind.is_file() {
            files.insert(rel);
        } else {
            others.insert(rel);
        }
    }
    Ok(())
}

/// The manifest's bytes as entries; errors name `manifest_path` and the line.
fn read_manifest(manifest: &[u8], manifest_path: &Path) -> Result<Vec<ManifestEntry>, BundleError> {
    let text = std::str::from_utf8(manifest).map_err(|e| BundleError::Manifest {
        manifest: manifest_path.to_path_buf(),
        line: 1,
        message: format!("not UTF-8: {e}"),
    })?;
    parse_manifest(text).map_err(|e| BundleError::Manifest {
        manifest: manifest_path.to_path_buf(),
        line: e.line,
        message: e.message,
    })
}

/// How one listed file reads back: its hex SHA-256, or why its bytes cannot be read.
type Readback = Result<String, String>;

/// Every problem, in manifest order, then the files present but not listed (and `others`,
/// which are not regular files), sorted.
fn compare(
    entries: &[ManifestEntry],
    mut present: BTreeSet<String>,
    others: BTreeSet<String>,
    mut hash_of: impl FnMut(&str) -> Result<Readback, BundleError>,
) -> Result<Vec<Problem>, BundleError> {
    let mut problems = Vec::new();
    for ManifestEntry {
        sha256: expected,
        name,
    } in entries
    {
        if !present.remove(name) {
            problems.push(Problem::Missing { name: name.clone() });
            continue;
        }
        match hash_of(name)? {
            Ok(actual) if &actual == expected => {}
            Ok(actual) => problems.push(Problem::Changed {
                name: name.clone(),
                expected: expected.clone(),
                actual,
            }),
            Err(reason) => problems.push(Problem::Damaged {
                name: name.clone(),
                reason,
            }),
        }
    }
    let mut extra: Vec<String> = present.into_iter().chain(others).collect();
    extra.sort();
    problems.extend(extra.into_iter().map(|name| Problem::Extra { name }));
    Ok(problems)
}

/// Checks every file of the bundle at `path` against its manifest: a directory, or (a regular
/// file) a zip written by [`write_bundle_zip`].
pub fn verify_bundle(path: &Path) -> Result<Verification, BundleError> {
    if path.is_file() {
        let bytes = fs::read(path).map_err(BundleError::io(path))?;
        return verify_zip_bytes(path, &bytes);
    }
    let dir = path;
    let manifest_path = dir.join(MANIFEST);
    let manifest = fs::read(&manifest_path).map_err(BundleError::io(&manifest_path))?;
    let entries = read_manifest(&manifest, &manifest_path)?;
    let mut on_disk = BTreeSet::new();
    let mut others = BTreeSet::new();
    walk(dir, "", &mut on_disk, &mut others)?;
    on_disk.remove(MANIFEST);
    let problems = compare(&entries, on_disk, others, |name| {
        let path: PathBuf = dir.join(name);
        let bytes = fs::read(&path).map_err(BundleError::io(&path))?;
        Ok(Ok(sha256_hex(&bytes)))
    })?;
    Ok(Verification {
        files: entries.len(),
        manifest_sha256: sha256_hex(&manifest),
        problems,
    })
}
