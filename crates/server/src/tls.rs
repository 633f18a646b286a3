//! TLS for the gateway listener (rustls through tonic, ring provider), and the secret files it
//! and clients read: refused when group- or world-readable, held in [`secrecy`] types whose
//! `Debug` is redacted, exposed only to hand them to rustls.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use secrecy::{ExposeSecret as _, SecretSlice};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::error::SecretFileError;
use crate::serve_config::TlsFiles;

/// Reads a secret (private key, token) from a file only its owner may read.
pub fn read_secret_file(path: &Path) -> Result<SecretSlice<u8>, SecretFileError> {
    let name = || path.display().to_string();
    let metadata = std::fs::metadata(path).map_err(|source| SecretFileError::Read {
        path: name(),
        source,
    })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretFileError::TooOpen { path: name(), mode });
    }
    let bytes = std::fs::read(path).map_err(|source| SecretFileError::Read {
        path: name(),
        source,
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(SecretFileError::Content {
            path: name(),
            problem: "secret file is empty".to_owned(),
        });
    }
    Ok(SecretSlice::from(bytes))
}

/// Reads a public PEM file (certificate, CA) that must hold a PEM block.
pub fn read_pem_file(path: &Path) -> Result<Vec<u8>, SecretFileError> {
    let bytes = std::fs::read(path).map_err(|source| SecretFileError::Read {
        path: path.display().to_string(),
        source,
    })?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(SecretFileError::Content {
            path: path.display().to_string(),
            problem: "no PEM block (-----BEGIN …) found".to_owned(),
        });
    }
    Ok(bytes)
}

/// The server TLS config for `[tls]`: identity from the cert and key files; with `client_ca`,
/// client certificates are verified against it (optional, so token clients still connect).
pub fn server_tls_config(files: &TlsFiles) -> Result<ServerTlsConfig, SecretFileError> {
    let cert = read_pem_file(&files.cert)?;
    let key = read_secret_file(&files.key)?;
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key.expose_secret()));
    if let Some(ca) = &files.client_ca {
        config = config
            .client_ca_root(Certificate::from_pem(read_pem_file(ca)?))
            .client_auth_optional(true);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_files_readable_by_others_are_refused_and_never_debug_printed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cr3t-value\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = read_secret_file(&path).expect_err("world-readable");
        assert!(error.to_string().contains("mode 644"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(read_secret_file(&path).is_err(), "group-readable");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let secret = read_secret_file(&path).expect("owner-only");
        assert_eq!(secret.expose_secret(), b"s3cr3t-value\n");
        assert!(!format!("{secret:?}").contains("s3cr3t"));
    }
}
