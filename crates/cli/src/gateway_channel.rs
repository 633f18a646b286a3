//! How every CLI command that talks to a remote gateway connects: one set of client options
//! (`--ca`, `--cert`, `--key`, `--token-file`, and the same from `METERLAB_*` environment
//! variables) and one function building the channel. `https://` URLs use TLS (rustls);
//! a bearer token is attached to every call and never printed.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use secrecy::{ExposeSecret as _, SecretString};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Client credentials for a gateway.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GatewayClientArgs {
    /// CA certificate (PEM) the gateway's certificate must chain to (needed for https://).
    #[arg(long, env = "METERLAB_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS; its subject common name is the principal.
    #[arg(long, env = "METERLAB_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key (PEM) of --cert; refused when group- or world-readable.
    #[arg(long, env = "METERLAB_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
    /// File holding a bearer token (from `meterlab token hash`); refused when group- or
    /// world-readable.
    #[arg(long, env = "METERLAB_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// Adds `authorization: Bearer <token>` to every call (marked sensitive so HTTP/2 tracing
/// does not print it).
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

/// A connected gateway channel that sends the configured credentials with every call.
pub type GatewayChannel = InterceptedService<Channel, BearerToken>;

/// Connects to the gateway at `url` (`http://` or `https://`) with `args`' credentials.
pub async fn connect(url: &str, args: &GatewayClientArgs) -> anyhow::Result<GatewayChannel> {
    let mut endpoint =
        Endpoint::from_shared(url.to_owned()).with_context(|| format!("{url:?} is not a URL"))?;
    let https = url.starts_with("https://");
    if !https && (args.ca.is_some() || args.cert.is_some()) {
        bail!("{url}: --ca/--cert need an https:// gateway URL");
    }
    if https {
        let Some(ca) = &args.ca else {
            bail!(
                "{url}: https:// needs --ca (or METERLAB_CA): the CA of the gateway's certificate"
            );
        };
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(
            meterlab_server::tls::read_pem_file(ca)?,
        ));
        if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
            let cert = meterlab_server::tls::read_pem_file(cert)?;
            let key = meterlab_server::tls::read_secret_file(key)?;
            tls = tls.identity(Identity::from_pem(cert, key.expose_secret()));
        }
        endpoint = endpoint
            .tls_config(tls)
            .with_context(|| format!("{url}: TLS configuration"))?;
    }
    let token = match &args.token_file {
        None => BearerToken::default(),
        Some(path) => {
            let bytes = meterlab_server::tls::read_secret_file(path)?;
            let text = std::str::from_utf8(bytes.expose_secret())
                .map(|t| SecretString::from(t.trim()))
                .with_context(|| format!("{}: token is not UTF-8", path.display()))?;
            let mut value = MetadataValue::try_from(format!("Bearer {}", text.expose_secret()))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{}: token has characters not allowed in a header",
                        path.display()
                    )
                })?;
            value.set_sensitive(true);
            BearerToken(Some(value))
        }
    };
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to the gateway at {url}"))?;
    Ok(InterceptedService::new(channel, token))
}
