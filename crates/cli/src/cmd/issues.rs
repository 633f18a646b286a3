//! `meterlab issues --gateway URL`: the Testing Issues a (remote) gateway knows, one per line.
//! The smallest read a viewer can do; it connects through [`crate::gateway_channel`].

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;

use crate::gateway_channel::{GatewayClientArgs, connect};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Gateway URL, e.g. https://lab-gw:50051 (https implies TLS).
    #[arg(long, env = "METERLAB_GATEWAY")]
    gateway: String,
    #[command(flatten)]
    client: GatewayClientArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let channel = connect(&args.gateway, &args.client).await?;
        let issues = GovernanceServiceClient::new(channel)
            .list_issues(pb::ListIssuesRequest::default())
            .await
            .map_err(|status| {
                anyhow::anyhow!(
                    "{}: {:?}: {}",
                    args.gateway,
                    status.code(),
                    status.message()
                )
            })?
            .into_inner();
        for issue in &issues.issues {
            println!(
                "{}\tS{}\t{:?}\t{}",
                issue.id,
                issue.severity,
                issue.status(),
                issue.title
            );
        }
        println!("{} issue(s)", issues.issues.len());
        Ok(())
    })
}
