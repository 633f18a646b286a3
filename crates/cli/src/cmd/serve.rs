//! `meterlab serve`: the gateway. Serves ResultService, GovernanceService, gRPC health and
//! reflection over one SQLite store — and DeviceService and RunService when the config names a
//! bench — until SIGINT or SIGTERM, then drains: queued runs do not start, running cases get
//! `[limits] drain_s` to finish and then end `blocked`, every result they finished is stored,
//! result and watch streams end with UNAVAILABLE, connections get a short grace to close and are
//! then dropped, a projection checkpoint is recorded, and the process exits 0.
//!
//! With `--upstream URL` (or `[upstream]` in the config) it is a lab gateway: results are
//! acknowledged once durable in its own store and forwarded in order to the central
//! ResultService, resuming from the central watermark after an outage; governance requests are
//! refused, naming the central URL (see `meterlab_server::upstream`).
//!
//! `--config FILE` is the one serve config (listen, db, evidence_dir, profile, bench, `[limits]`, `[tls]`,
//! `[[principal]]`; see `meterlab_server::serve_config`); command-line options override it. A non-loopback address
//! is refused without TLS and principals unless `--insecure` is given.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use meterlab_server::serve_config::ServeConfig;
use meterlab_server::upstream::UpstreamConfig;
use meterlab_server::{Gateway, GatewayConfig, Security, StreamLimits};

const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Serve config (TOML): listen, db, profile, [tls], [[principal]].
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (port 0 picks a free port; the bound address is printed)
    /// [default: the config's `listen`, else 127.0.0.1:50051].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Store: an SQLite file (created if absent) or a `postgres://` URL [default: the config's `db`].
    #[arg(long)]
    db: Option<PathBuf>,
    /// Governance rule profile (TOML), e.g. `suites/profiles/illustrative.toml`
    /// [default: the config's `profile`].
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Allow a non-loopback address without TLS or without principals (anyone who can reach
    /// the port may then read and write governance decisions).
    #[arg(long)]
    insecure: bool,
    /// Unanswered results a result stream may have before more are rejected as OVERLOADED
    /// [default: the config's `[limits] max_in_flight`, else 256].
    #[arg(long)]
    max_in_flight: Option<u32>,
    /// Largest accepted result stream message, in bytes [default: the config's
    /// `[limits] max_result_message_bytes`, else 65536].
    #[arg(long)]
    max_message_bytes: Option<usize>,
    /// Make this a lab gateway: acknowledge results once durable in --db and forward them to the
    /// central ResultService at URL (repeat for central replicas, tried in turn); governance
    /// requests are refused, naming URL [default: the config's `[upstream] url`].
    #[arg(long, value_name = "URL")]
    upstream: Vec<String>,
    /// Credentials for --upstream: as `--ca/--cert/--key/--token-file` of the other commands
    /// [default: the config's `[upstream]` ones].
    #[arg(long, value_name = "PEM")]
    upstream_ca: Option<PathBuf>,
    #[arg(long, value_name = "PEM", requires = "upstream_key")]
    upstream_cert: Option<PathBuf>,
    #[arg(long, value_name = "PEM", requires = "upstream_cert")]
    upstream_key: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    upstream_token_file: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let file = args.config.as_deref().map(ServeConfig::load).transpose()?;
    let listen = match args.listen.or(file.as_ref().and_then(|f| f.listen)) {
        Some(listen) => listen,
        None => DEFAULT_LISTEN.parse()?,
    };
    let db = args
        .db
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.db.clone()))
        .context("no store: give --db or `db` in the serve config")?;
    let profile_path = args
        .profile
        .clone()
        .or_else(|| file.as_ref().and_then(|f| f.profile.clone()))
        .context("no rule profile: give --profile or `profile` in the serve config")?;
    let security = security(file.as_ref())?;
    check_exposure(listen, &security, args.insecure)?;
    let profile = meterlab_server::load_profile_file(&profile_path)?;
    let mut limits = file.as_ref().map(|f| f.limits).unwrap_or_default();
    if let Some(n) = args.max_in_flight {
        limits.max_in_flight = n;
    }
    if let Some(n) = args.max_message_bytes {
        limits.max_result_message_bytes = n;
    }
    let config = GatewayConfig {
        db: db.clone(),
        profile,
        limits: StreamLimits {
            max_in_flight: limits.max_in_flight,
            max_message_bytes: limits.max_result_message_bytes,
        },
        store: Default::default(),
    };
    let mut gateway = Gateway::open(config)
        .await
        .with_context(|| format!("cannot open the store {}", db.display()))?
        .with_limits(limits);
    if let Some(upstream) = upstream(&args, file.as_ref()) {
        println!(
            "meterlab serve: lab gateway forwarding results to {}",
            upstream.urls.join(", ")
        );
        gateway = gateway.with_upstream(upstream);
    }
    if let Some(dir) = file.as_ref().and_then(|f| f.evidence_dir.clone()) {
        gateway = gateway.with_evidence_dir(dir);
    }
    if let Some(mut bench) = file.as_ref().and_then(|f| f.bench.clone()) {
        // `isolation = "process"` plugins run in this executable's `plugin-worker`.
        let process = crate::cmd::plugin::process_options(None);
        bench.worker = process.worker.map(|worker| (worker, process.worker_args));
        let devices = bench.devices.len();
        gateway = gateway
            .with_bench(bench)
            .context("cannot open the bench of the serve config")?;
        println!("meterlab serve: {devices} devices on the bench");
        if let Some(dir) = gateway.evidence_dir() {
            println!(
                "meterlab serve: evidence of the bench's runs kept in {}",
                dir.display()
            );
        }
    }
    let listener = meterlab_server::bind(listen).await?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    println!("meterlab serve: listening on {addr}");
    gateway
        .serve_secured(listener, security, shutdown_signal())
        .await?;
    println!("meterlab serve: stopped");
    Ok(())
}

/// The upstream of a lab gateway: the command line's URLs and credentials over the config's.
fn upstream(args: &Args, file: Option<&ServeConfig>) -> Option<UpstreamConfig> {
    let configured = file.and_then(|f| f.upstream.clone());
    if args.upstream.is_empty() && configured.is_none() {
        return None;
    }
    let mut upstream = configured.unwrap_or_else(|| UpstreamConfig::new(Vec::new()));
    if !args.upstream.is_empty() {
        upstream.urls.clone_from(&args.upstream);
    }
    for (given, slot) in [
        (&args.upstream_ca, &mut upstream.ca),
        (&args.upstream_cert, &mut upstream.cert),
        (&args.upstream_key, &mut upstream.key),
        (&args.upstream_token_file, &mut upstream.token_file),
    ] {
        if given.is_some() {
            slot.clone_from(given);
        }
    }
    Some(upstream)
}

fn security(file: Option<&ServeConfig>) -> anyhow::Result<Security> {
    let Some(file) = file else {
        return Ok(Security::default());
    };
    let tls = file
        .tls
        .as_ref()
        .map(meterlab_server::tls::server_tls_config)
        .transpose()
        .with_context(|| format!("{}: [tls]", file.path.display()))?;
    let principals =
        (!file.principals.is_empty()).then(|| std::sync::Arc::new(file.principals.clone()));
    Ok(Security {
        tls,
        principals,
        streams_per_principal: Some(file.streams_per_principal),
    })
}

/// Refuses to expose an unencrypted or unauthenticated gateway beyond loopback unless told to.
fn check_exposure(listen: SocketAddr, security: &Security, insecure: bool) -> anyhow::Result<()> {
    let mut missing = Vec::new();
    if security.tls.is_none() {
        missing.push("TLS ([tls] in --config)");
    }
    if security.principals.is_none() {
        missing.push("principals ([[principal]] in --config)");
    }
    if listen.ip().is_loopback() || missing.is_empty() {
        return Ok(());
    }
    let missing = missing.join(" and ");
    if insecure {
        eprintln!("meterlab serve: WARNING: --insecure: serving {listen} without {missing}");
        Ok(())
    } else {
        anyhow::bail!(
            "refusing to serve non-loopback {listen} without {missing}; pass --insecure to allow it"
        )
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM; stopping on SIGINT only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("shutdown signal received");
}
