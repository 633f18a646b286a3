//! Errors of rendering, CI report writing and evidence bundles.

use std::path::PathBuf;

/// A template failed to render (a bug in a shipped template, or a value it cannot show).
#[derive(Debug, thiserror::Error)]
#[error("cannot render {template}: {source}")]
pub struct RenderError {
    pub template: &'static str,
    #[source]
    pub source: minijinja::Error,
}

/// A CI report (JUnit XML, CTRF JSON) could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum CiError {
    #[error("cannot serialise the JUnit report: {0}")]
    Junit(#[from] quick_junit::SerializeError),
    #[error("cannot serialise the CTRF report: {0}")]
    Ctrf(#[from] serde_json::Error),
}

/// Writing or checking a sealed evidence bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} already exists; a bundle is written to a new path")]
    Exists { path: PathBuf },
    #[error(
        "bundle file name {name:?} is not a plain relative path (no '..', no absolute path, no empty part)"
    )]
    BadName { name: String },
    #[error("bundle file {name} is given twice")]
    Duplicate { name: String },
    #[error(
        "{source_name}: this evidence document's SHA-256 is {actual}, but the stored result records {expected}; it is not the evidence of that attempt"
    )]
    EvidenceMismatch {
        source_name: String,
        expected: String,
        actual: String,
    },
    #[error("{source_name}: not a meterlab evidence document: {message}")]
    EvidenceUnreadable {
        source_name: String,
        message: String,
    },
    #[error("{bundle}: not a readable zip bundle: {message}")]
    Zip { bundle: PathBuf, message: String },
    #[error("{bundle}: entry {entry:?} {message}")]
    ZipEntry {
        bundle: PathBuf,
        entry: String,
        message: String,
    },
    #[error("{manifest}:{line}: {message}")]
    Manifest {
        manifest: PathBuf,
        line: usize,
        message: String,
    },
}

impl BundleError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BundleError {
        let path = path.into();
        move |source| BundleError::Io { path, source }
    }
}

/// A line of a bundle manifest that is not `<sha256>  <path>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ManifestLineError {
    pub line: usize,
    pub message: String,
}
