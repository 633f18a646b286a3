//! Sealed evidence bundles: a directory holding the report, per-case step logs, the raw
//! traffic captures and `MANIFEST.sha256`, which lists the SHA-256 of every other file
//! (`sha256sum` format, sorted by path). [`verify_bundle`] names the first file that changed, is
//! missing or is not in the manifest.
//!
//! The manifest seals the files against each other; whoever keeps the manifest's own SHA-256
//! (printed when the bundle is written, e.g. into a ticket) seals the manifest too.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{BundleError, ManifestLineError};

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
}

impl Problem {
    pub fn name(&self) -> &str {
        match self {
            Problem::Changed { name, .. } | Problem::Missing { name } | Problem::Extra { name } => {
                name
            }
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

/// Writes `files` and their manifest into `dir`, which must not exist yet.
pub fn write_bundle(dir: &Path, files: &[BundleFile]) -> Result<Sealed, BundleError> {
    let mut by_name: BTreeMap<&str, &BundleFile> = BTreeMap::new();
    for f in files {
        check_name(&f.name)?;
        if by_name.insert(f.name.as_str(), f).is_some() {
            return Err(BundleError::Duplicate {
                name: f.name.clone(),
            });
        }
    }
    if dir.exists() {
        return Err(BundleError::Exists {
            path: dir.to_path_buf(),
        });
    }
    fs::create_dir_all(dir).map_err(BundleError::io(dir))?;
    let mut manifest = String::new();
    for (name, file) in &by_name {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(BundleError::io(parent))?;
        }
        fs::write(&path, &file.bytes).map_err(BundleError::io(&path))?;
        manifest.push_str(&sha256_hex(&file.bytes));
        manifest.push_str("  ");
        manifest.push_str(name);
        manifest.push('\n');
    }
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

/// Checks every file of the bundle in `dir` against its manifest.
pub fn verify_bundle(dir: &Path) -> Result<Verification, BundleError> {
    let manifest_path = dir.join(MANIFEST);
    let manifest = fs::read(&manifest_path).map_err(BundleError::io(&manifest_path))?;
    let text = String::from_utf8(manifest.clone()).map_err(|e| BundleError::Manifest {
        manifest: manifest_path.clone(),
        line: 1,
        message: format!("not UTF-8: {e}"),
    })?;
    let entries = parse_manifest(&text).map_err(|e| BundleError::Manifest {
        manifest: manifest_path.clone(),
        line: e.line,
        message: e.message,
    })?;
    let mut on_disk = BTreeSet::new();
    let mut others = BTreeSet::new();
    walk(dir, "", &mut on_disk, &mut others)?;
    on_disk.remove(MANIFEST);

    let mut problems = Vec::new();
    for ManifestEntry {
        sha256: expected,
        name,
    } in &entries
    {
        let path: PathBuf = dir.join(name);
        if !on_disk.remove(name) {
            problems.push(Problem::Missing { name: name.clone() });
            continue;
        }
        let bytes = fs::read(&path).map_err(BundleError::io(&path))?;
        let actual = sha256_hex(&bytes);
        if &actual != expected {
            problems.push(Problem::Changed {
                name: name.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    let mut extra: Vec<String> = on_disk.into_iter().chain(others).collect();
    extra.sort();
    problems.extend(extra.into_iter().map(|name| Problem::Extra { name }));
    Ok(Verification {
        files: entries.len(),
        manifest_sha256: sha256_hex(&manifest),
        problems,
    })
}
