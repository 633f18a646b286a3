//! The canonical form of a case and its content hash.
//!
//! The form is the validated model serialised as compact JSON: fields in the model's declaration
//! order, defaults filled in, modes and device types sorted, hex lower-case, integers as
//! integers. So reformatting a file (whitespace, key order, comments, inline vs. header tables,
//! `0x` or decimal integers) leaves the hash alone, and any change of meaning changes it.

use sha2::{Digest as _, Sha256};

use crate::model::{Case, ContentHash};

/// Names the canonical form; bumped if the form ever changes, so old and new hashes never mix.
pub const CANONICAL_FORM: &str = "meterlab-case/1";

/// A case the canonical form cannot render (its model holds something JSON cannot express).
#[derive(Debug, thiserror::Error)]
#[error("case {case} cannot be rendered canonically: {source}")]
pub(crate) struct CanonicalError {
    case: String,
    source: serde_json::Error,
}

fn render(case: &Case) -> Result<String, CanonicalError> {
    let json = serde_json::to_string(case).map_err(|source| CanonicalError {
        case: case.id.to_string(),
        source,
    })?;
    Ok(format!("{CANONICAL_FORM}\n{json}"))
}

/// The canonical text of `case` (empty if it cannot be rendered, which a loaded case always can:
/// the loader computed its hash from this text).
pub(crate) fn canonical_json(case: &Case) -> String {
    render(case).unwrap_or_default()
}

/// SHA-256 of the canonical text.
pub(crate) fn content_hash(case: &Case) -> Result<ContentHash, CanonicalError> {
    let text = render(case)?;
    Ok(ContentHash(Sha256::digest(text.as_bytes()).into()))
}
