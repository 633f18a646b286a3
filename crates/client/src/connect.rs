//! How a client reaches a gateway: `http://` or `https://` (TLS with rustls; mutual TLS with a
//! client certificate), and an optional bearer token attached to every call and never printed.
//! Secret files (the client key, the token) are refused when group- or world-readable, as the
//! gateway refuses its own.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret as _, SecretSlice};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::error::{ClientError, Result};

/// Credentials for a gateway: a CA for `https://`, a client certificate and key for mutual TLS,
/// and a bearer token file.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// CA certificate (PEM) the gateway's certificate must chain to; needed for `https://`.
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of `cert`; must be readable by its owner only.
    pub key: Option<PathBuf>,
    /// File holding a bearer token; must be readable by its owner only.
    pub token_file: Option<PathBuf>,
}

/// Adds `authorization: Bearer <token>` to every call, marked sensitive so HTTP/2 tracing does
/// not print it.
#[derive(Clone, Default)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "BearerToken([REDACTED])"
        } else {
            "BearerToken(none)"
        })
    }
}

impl Interceptor for BearerToken {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A gateway channel that sends the configured credentials with every call.
pub type GatewayChannel = InterceptedService<Channel, BearerToken>;

fn file_error(path: &Path, problem: impl Into<String>) -> ClientError {
    ClientError::File {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// Reads a secret (private key, token) from a file only its owner may read.
pub fn read_secret_file(path: &Path) -> Result<SecretSlice<u8>> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| file_error(path, format!("cannot read: {error}")))?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(file_error(
            path,
            format!(
                "secret file is readable by group or others (mode {mode:o}); run `chmod 600 {}`",
                path.display()
            ),
        ));
    }
    let bytes =
        std::fs::read(path).map_err(|error| file_error(path, format!("cannot read: {error}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(file_error(path, "secret file is empty"));
    }
    Ok(SecretSlice::from(bytes))
}

/// Reads a public PEM file (certificate, CA) that must hold a PEM block.
pub fn read_pem_file(path: &Path) -> Result<Vec<u8>> {
    let bytes =
        std::fs::read(path).map_err(|error| file_error(path, format!("cannot read: {error}")))?;
    if !bytes.windows(11).any(|window| window == b"-----BEGIN ") {
        return Err(file_error(path, "holds no PEM block (-----BEGIN ...)"));
    }
    Ok(bytes)
}

fn bearer_token(path: &Path) -> Result<BearerToken> {
    let bytes = read_secret_file(path)?;
    let text = std::str::from_utf8(bytes.expose_secret())
        .map_err(|_| file_error(path, "token is not UTF-8"))?;
    let mut value = MetadataValue::try_from(format!("Bearer {}", text.trim()))
        .map_err(|_| file_error(path, "token has characters not allowed in a header"))?;
    value.set_sensitive(true);
    Ok(BearerToken(Some(value)))
}

/// The endpoint for `url` with `options`' TLS settings, checked before anything connects.
fn endpoint(url: &str, options: &ConnectOptions) -> Result<Endpoint> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|_| ClientError::Config(format!("gateway {url:?} is not a URL")))?;
    let https = url.starts_with("https://");
    if !https && !url.starts_with("http://") {
        return Err(ClientError::Config(format!(
            "gateway {url:?}: the URL must start with http:// or https://"
        )));
    }
    if !https && (options.ca.is_some() || options.cert.is_some()) {
        return Err(ClientError::Config(format!(
            "{url}: --ca/--cert need an https:// gateway URL"
        )));
    }
    if options.cert.is_some() != options.key.is_some() {
        return Err(ClientError::Config(
            "--cert and --key go together (mutual TLS needs both)".to_owned(),
        ));
    }
    if https {
        let Some(ca) = &options.ca else {
            return Err(ClientError::Config(format!(
                "{url}: https:// needs --ca (or METERLAB_CA): the CA of the gateway's certificate"
            )));
        };
        let mut tls =
            ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem_file(ca)?));
        if let (Some(cert), Some(key)) = (&options.cert, &options.key) {
            let cert = read_pem_file(cert)?;
            let key = read_secret_file(key)?;
            tls = tls.identity(Identity::from_pem(cert, key.expose_secret()));
        }
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|error| ClientError::Config(format!("{url}: TLS configuration: {error}")))?;
    }
    Ok(endpoint)
}

/// Connects to the gateway at `url` (`http://` or `https://`) with `options`' credentials.
pub async fn connect_channel(url: &str, options: &ConnectOptions) -> Result<GatewayChannel> {
    let endpoint = endpoint(url, options)?;
    let token = match &options.token_file {
        None => BearerToken::default(),
        Some(path) => bearer_token(path)?,
    };
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| ClientError::Connect {
            url: url.to_owned(),
            source,
        })?;
    Ok(InterceptedService::new(channel, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ConnectOptions {
        ConnectOptions::default()
    }

    #[test]
    fn https_needs_a_ca_and_http_refuses_tls_files() {
        let error = endpoint("https://gw:50051", &options()).expect_err("no CA");
        assert!(error.to_string().contains("needs --ca"), "{error}");
        let error = endpoint(
            "http://gw:50051",
            &ConnectOptions {
                ca: Some("ca.pem".into()),
                ..options()
            },
        )
        .expect_err("CA on http");
        assert!(error.to_string().contains("need an https://"), "{error}");
        let error = endpoint("gw:50051", &options()).expect_err("no scheme");
        assert!(error.to_string().contains("http:// or https://"), "{error}");
        let error = endpoint(
            "https://gw:50051",
            &ConnectOptions {
                cert: Some("c.pem".into()),
                ..options()
            },
        )
        .expect_err("cert without key");
        assert!(error.to_string().contains("--cert and --key"), "{error}");
    }

    #[test]
    fn token_files_readable_by_others_are_refused_and_tokens_never_debug_printed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret-token\n").expect("write token");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = bearer_token(&path).expect_err("world-readable token");
        assert!(error.to_string().contains("mode 644"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let token = bearer_token(&path).expect("owner-only token");
        let shown = format!("{token:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        let mut token = token;
        let request = token.call(tonic::Request::new(())).expect("intercept");
        assert_eq!(
            request.metadata().get("authorization").expect("header"),
            "Bearer s3cret-token"
        );
    }

    #[test]
    fn a_ca_file_without_pem_is_named() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "not a certificate").expect("write ca");
        let error = endpoint(
            "https://gw:50051",
            &ConnectOptions {
                ca: Some(ca.clone()),
                ..options()
            },
        )
        .expect_err("no PEM");
        assert!(
            error.to_string().contains(&ca.display().to_string()),
            "{error}"
        );
    }
}
