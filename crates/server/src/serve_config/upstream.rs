//! The `[upstream]` table of the serve config: a lab gateway's central service.
//!
//! ```toml
//! [upstream]
//! url = "https://central-a:50051"     # or a list: tried in turn (central replicas)
//! ca = "certs/central-ca.pem"         # the client options of every meterlab command
//! cert = "certs/lab.pem"
//! key = "certs/lab.key"
//! token_file = "secrets/lab.token"
//! backoff_first_ms = 250              # pauses after failures double up to backoff_max_ms,
//! backoff_max_ms = 30000              # each jittered within [half, full]
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::Problems;
use super::bench::OneOrMany;
use crate::upstream::{BackoffPolicy, UpstreamConfig};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpstream {
    url: Spanned<OneOrMany>,
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    token_file: Option<String>,
    backoff_first_ms: Option<Spanned<u64>>,
    backoff_max_ms: Option<Spanned<u64>>,
}

/// Checks `[upstream]`; paths are resolved against `base`.
pub(super) fn upstream(
    raw: &Spanned<RawUpstream>,
    base: &Path,
    problems: &mut Problems<'_>,
) -> Option<UpstreamConfig> {
    let table = raw.get_ref();
    let urls: Vec<String> = table
        .url
        .get_ref()
        .items()
        .into_iter()
        .map(|u| u.trim().to_owned())
        .collect();
    let mut ok = true;
    if urls.is_empty() {
        problems.add(table.url.span(), "upstream url names no URL");
        ok = false;
    }
    for url in &urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            problems.add(
                table.url.span(),
                format!("upstream url {url:?} must start with http:// or https://"),
            );
            ok = false;
        }
    }
    if table.cert.is_some() != table.key.is_some() {
        problems.add(raw.span(), "upstream cert and key go together");
        ok = false;
    }
    let defaults = BackoffPolicy::default();
    let millis = |value: Option<&Spanned<u64>>, default: Duration| {
        value.map_or(default, |v| Duration::from_millis(*v.get_ref()))
    };
    let backoff = BackoffPolicy {
        first: millis(table.backoff_first_ms.as_ref(), defaults.first),
        max: millis(table.backoff_max_ms.as_ref(), defaults.max),
    };
    if backoff.first.is_zero() || backoff.first > backoff.max {
        let span = table
            .backoff_first_ms
            .as_ref()
            .map_or_else(|| raw.span(), Spanned::span);
        problems.add(
            span,
            format!(
                "backoff_first_ms must be at least 1 and at most backoff_max_ms ({} ms)",
                backoff.max.as_millis()
            ),
        );
        ok = false;
    }
    let resolve = |p: &Option<String>| p.as_deref().map(|p| base.join(p));
    ok.then(|| UpstreamConfig {
        urls,
        ca: resolve(&table.ca),
        cert: resolve(&table.cert),
        key: resolve(&table.key),
        token_file: resolve(&table.token_file),
        backoff,
    })
}
