//! The zip form of a sealed bundle: the same files and manifest as the directory form, in one
//! file. Written deterministically (entries sorted by path, the manifest last, every timestamp
//! 1980-01-01 00:00, mode 0644, deflate), so the same content gives the same bytes.
//!
//! Reading trusts nothing in the zip: an entry whose name could leave the bundle (`..`, an
//! absolute path, a backslash), a name given twice, an encrypted entry or a zip that does not
//! parse is refused with an error naming the bundle and the entry; the manifest then names the
//! first changed, missing or extra entry exactly as for a directory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Cursor, Read, Write as _};
use std::path::Path;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

use super::{
    BundleFile, MANIFEST, Readback, Sealed, Verification, check_name, compare, manifest_text,
    read_manifest, sha256_hex, sorted_files,
};
use crate::error::BundleError;

/// A manifest lists one short line per file; anything larger is not one of ours, and reading
/// it whole would let a crafted zip exhaust memory.
const MANIFEST_LIMIT: u64 = 16 * 1024 * 1024;

/// The zip bytes of a bundle of `files`, and what sealed it.
pub fn zip_bundle_bytes(files: &[BundleFile]) -> Result<(Vec<u8>, Sealed), BundleError> {
    let by_name = sorted_files(files)?;
    let manifest = manifest_text(&by_name);
    let fail = |e: &dyn std::fmt::Display| BundleError::Zip {
        bundle: "(zip being written)".into(),
        message: e.to_string(),
    };
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let entries = by_name
        .iter()
        .map(|(name, f)| (*name, f.bytes.as_slice()))
        .chain(std::iter::once((MANIFEST, manifest.as_bytes())));
    for (name, bytes) in entries {
        let large = u32::try_from(bytes.len()).is_err();
        zip.start_file(name, options.large_file(large))
            .map_err(|e| fail(&e))?;
        zip.write_all(bytes).map_err(|e| fail(&e))?;
    }
    let bytes = zip.finish().map_err(|e| fail(&e))?.into_inner();
    Ok((
        bytes,
        Sealed {
            files: by_name.len(),
            manifest_sha256: sha256_hex(manifest.as_bytes()),
        },
    ))
}

/// Writes `files` and their manifest as one zip at `path`, which must not exist yet.
pub fn write_bundle_zip(path: &Path, files: &[BundleFile]) -> Result<Sealed, BundleError> {
    let (bytes, sealed) = zip_bundle_bytes(files)?;
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => BundleError::Exists {
                path: path.to_path_buf(),
            },
            _ => BundleError::Io {
                path: path.to_path_buf(),
                source,
            },
        })?;
    out.write_all(&bytes)
        .and_then(|()| out.sync_all())
        .map_err(BundleError::io(path))?;
    tracing::info!(zip = %path.display(), files = sealed.files, "evidence bundle sealed");
    Ok(sealed)
}

/// Checks the zip bundle `bytes` (read from `bundle`, which errors name) against its manifest.
pub fn verify_zip_bytes(bundle: &Path, bytes: &[u8]) -> Result<Verification, BundleError> {
    let malformed = |message: String| BundleError::Zip {
        bundle: bundle.to_path_buf(),
        message,
    };
    let refused = |entry: &str, message: &str| BundleError::ZipEntry {
        bundle: bundle.to_path_buf(),
        entry: entry.to_string(),
        message: message.to_string(),
    };
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| malformed(e.to_string()))?;
    if archive.has_duplicate_names() {
        return Err(match duplicate_name(bytes) {
            Some(name) => refused(&name, "is in the zip twice; refused"),
            None => malformed("an entry name is in the zip twice".to_string()),
        });
    }
    let mut files: BTreeMap<String, usize> = BTreeMap::new();
    let mut others = BTreeSet::new();
    let mut manifest_index = None;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| malformed(format!("entry {index}: {e}")))?;
        let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
        // The name an unzip tool uses may come from a Unicode Path extra field; both must be
        // the one name the manifest can speak of.
        let extracted = entry
            .name()
            .map_err(|e| refused(&raw, &format!("has a name that does not decode: {e}")))?;
        if extracted != raw.as_str() {
            return Err(refused(
                &raw,
                &format!("is extracted as {extracted:?}, another name; refused"),
            ));
        }
        if entry.encrypted() {
            return Err(refused(&raw, "is encrypted; a bundle's entries are not"));
        }
        let is_dir = entry.is_dir();
        let plain = raw.strip_suffix('/').filter(|_| is_dir).unwrap_or(&raw);
        if plain == MANIFEST && !is_dir {
            manifest_index = Some(index);
            continue;
        }
        if check_name(plain).is_err() {
            return Err(refused(
                &raw,
                "is not a plain relative path ('..', an absolute path, a backslash or an empty part); refused",
            ));
        }
        if is_dir {
            continue;
        }
        if entry.is_file() && !entry.is_symlink() {
            files.insert(raw, index);
        } else {
            others.insert(raw);
        }
    }
    let manifest_index = manifest_index
        .ok_or_else(|| refused(MANIFEST, "is missing; this is not a sealed bundle"))?;
    let mut manifest = Vec::new();
    archive
        .by_index(manifest_index)
        .map_err(|e| refused(MANIFEST, &format!("cannot be read: {e}")))?
        .take(MANIFEST_LIMIT + 1)
        .read_to_end(&mut manifest)
        .map_err(|e| refused(MANIFEST, &format!("cannot be read: {e}")))?;
    if manifest.len() as u64 > MANIFEST_LIMIT {
        return Err(refused(
            MANIFEST,
            &format!("is larger than {MANIFEST_LIMIT} bytes; refused"),
        ));
    }
    let entries = read_manifest(&manifest, &bundle.join(MANIFEST))?;
    let present: BTreeSet<String> = files.keys().cloned().collect();
    let problems = compare(&entries, present, others, |name| {
        let Some(&index) = files.get(name) else {
            return Ok(Err("not in the zip".to_string()));
        };
        Ok(hash_entry(&mut archive, index))
    })?;
    Ok(Verification {
        files: entries.len(),
        manifest_sha256: sha256_hex(&manifest),
        problems,
    })
}

/// Streams one entry through SHA-256 (entries may be large captures; none is held whole). A
/// broken deflate stream or CRC is the entry's own damage, not the zip's.
fn hash_entry(archive: &mut ZipArchive<Cursor<&[u8]>>, index: usize) -> Readback {
    let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The first name the central directory lists twice (the zip crate only says that one is).
/// Plain (not zip64) end record only: a bundle's directory is small.
fn duplicate_name(bytes: &[u8]) -> Option<String> {
    const END: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
    const CENTRAL: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    let end = (0..=bytes.len().checked_sub(22)?)
        .rev()
        .find(|&i| bytes[i..i + 4] == END)?;
    let le16 = |at: usize| -> Option<usize> {
        Some(usize::from(u16::from_le_bytes(
            bytes.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let size = usize::try_from(u32::from_le_bytes(
        bytes.get(end + 12..end + 16)?.try_into().ok()?,
    ))
    .ok()?;
    let mut at = end.checked_sub(size)?;
    let mut seen = BTreeSet::new();
    while at < end && bytes.get(at..at + 4)? == CENTRAL {
        let (name_len, extra_len, comment_len) = (le16(at + 28)?, le16(at + 30)?, le16(at + 32)?);
        let name = String::from_utf8_lossy(bytes.get(at + 46..at + 46 + name_len)?).into_owned();
        if !seen.insert(name.clone()) {
            return Some(name);
        }
        at += 46 + name_len + extra_len + comment_len;
    }
    None
}
