//! How every CLI command reaches governance and results: a remote gateway (`--gateway URL`, with
//! `--ca`, `--cert`, `--key`, `--token-file` and the same from `METERLAB_*` environment
//! variables; `https://` implies TLS), or a local store (`--db PATH`) served in-process on
//! loopback exactly as a gateway serves it. Either way the command talks through one
//! [`meterlab_client::Client`], so a local store and a lab gateway answer alike.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use meterlab_client::{Client, ConnectOptions};

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

impl GatewayClientArgs {
    pub fn options(&self) -> ConnectOptions {
        ConnectOptions {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
            token_file: self.token_file.clone(),
        }
    }
}

/// Where a governance command works: a gateway or a local store.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Gateway URL, e.g. https://lab-gw:50051 (https implies TLS).
    #[arg(
        long,
        env = "METERLAB_GATEWAY",
        conflicts_with = "db",
        required_unless_present = "db"
    )]
    pub gateway: Option<String>,
    /// Local SQLite store, served in-process on loopback through the same client.
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Rule profile (TOML) for --db; default: the embedded illustrative profile.
    #[arg(long, requires = "db")]
    pub profile: Option<PathBuf>,
    #[command(flatten)]
    pub client: GatewayClientArgs,
}

/// A problem with what the user gave (exit 2).
#[derive(Debug)]
pub struct BadInput(pub String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// A store served in-process on loopback for the length of one command.
#[derive(Debug)]
pub struct InProcessGateway {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), meterlab_server::ServerError>>,
}

impl InProcessGateway {
    /// Serves the store at `db` (created when `create` and missing) on a loopback port and
    /// answers its `http://` URL.
    pub async fn serve(
        db: &Path,
        profile: meterlab_governance::Profile,
        create: bool,
    ) -> anyhow::Result<(String, InProcessGateway)> {
        if !create && !db.is_file() {
            return Err(BadInput(format!(
                "--db {}: no such store (`meterlab plan entry --db` creates one)",
                db.display()
            ))
            .into());
        }
        let gateway = meterlab_server::Gateway::open(meterlab_server::GatewayConfig {
            db: db.to_owned(),
            profile,
            limits: meterlab_server::StreamLimits::default(),
            store: meterlab_store::StoreConfig::default(),
        })
        .await
        .with_context(|| format!("cannot open the store {}", db.display()))?;
        let listener = meterlab_server::bind("127.0.0.1:0".parse()?).await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(gateway.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok((format!("http://{address}"), InProcessGateway { stop, task }))
    }

    /// Stops serving and waits until the store is released.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task
            .await
            .context("the in-process gateway task failed")?
            .context("the in-process gateway failed")?;
        Ok(())
    }
}

/// A client of the target, and the in-process gateway behind it for `--db`.
#[derive(Debug)]
pub struct Connected {
    pub client: Client,
    in_process: Option<InProcessGateway>,
}

impl Connected {
    /// Connects to `target`; for `--db`, a missing store is created only when `create`.
    pub async fn open(target: &TargetArgs, create: bool) -> anyhow::Result<Connected> {
        if let Some(db) = &target.db {
            let profile = match &target.profile {
                Some(path) => meterlab_server::load_profile_file(path)
                    .map_err(|error| BadInput(format!("--profile: {error}")))?,
                None => crate::cmd::run::input::default_profile()?,
            };
            let (url, gateway) = InProcessGateway::serve(db, profile, create).await?;
            let client = Client::connect(&url, &ConnectOptions::default())
                .await
                .context("cannot reach the in-process gateway")?;
            return Ok(Connected {
                client,
                in_process: Some(gateway),
            });
        }
        let url = target.gateway.as_deref().unwrap_or_default();
        let client = connect(url, &target.client).await?;
        Ok(Connected {
            client,
            in_process: None,
        })
    }

    /// Releases the local store (a gateway connection just closes).
    pub async fn close(self) -> anyhow::Result<()> {
        drop(self.client);
        if let Some(gateway) = self.in_process {
            gateway.stop().await?;
        }
        Ok(())
    }
}

/// Connects to the gateway at `url` with `args`' credentials; an unusable option is bad input.
pub async fn connect(url: &str, args: &GatewayClientArgs) -> anyhow::Result<Client> {
    Client::connect(url, &args.options())
        .await
        .map_err(|error| match error {
            meterlab_client::ClientError::Config(_) | meterlab_client::ClientError::File { .. } => {
                anyhow::Error::new(BadInput(error.to_string()))
            }
            other => anyhow::Error::new(other),
        })
}
