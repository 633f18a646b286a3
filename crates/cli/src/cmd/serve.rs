//! `meterlab serve`: the gateway. Serves ResultService, GovernanceService, gRPC health and
//! reflection over one SQLite store until SIGINT or SIGTERM, then stops gracefully (open result
//! streams end with UNAVAILABLE, in-flight requests finish, a projection checkpoint is recorded).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use meterlab_server::{Gateway, GatewayConfig, StreamLimits};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on (port 0 picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// SQLite store file (created if absent).
    #[arg(long)]
    db: PathBuf,
    /// Governance rule profile (TOML), e.g. `suites/profiles/illustrative.toml`.
    #[arg(long)]
    profile: PathBuf,
    /// Unanswered results a result stream may have before more are rejected as OVERLOADED.
    #[arg(long, default_value_t = StreamLimits::default().max_in_flight)]
    max_in_flight: u32,
    /// Largest accepted result stream message, in bytes.
    #[arg(long, default_value_t = StreamLimits::default().max_message_bytes)]
    max_message_bytes: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let profile = meterlab_server::load_profile_file(&args.profile)?;
    let config = GatewayConfig {
        db: args.db.clone(),
        profile,
        limits: StreamLimits {
            max_in_flight: args.max_in_flight,
            max_message_bytes: args.max_message_bytes,
        },
        store: Default::default(),
    };
    let gateway = Gateway::open(config)
        .await
        .with_context(|| format!("cannot open the store {}", args.db.display()))?;
    let listener = meterlab_server::bind(args.listen).await?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    println!("meterlab serve: listening on {addr}");
    gateway.serve(listener, shutdown_signal()).await?;
    println!("meterlab serve: stopped");
    Ok(())
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
