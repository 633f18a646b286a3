//! The one `meterlab serve` config file (TOML): where to listen, the store, the rule profile,
//! the bench (adapter plugins with their SHA-256 pins, devices, suites, DMC descriptions), limits,
//! TLS, and the principals allowed in. Relative paths are relative to the config file.
//!
//! ```toml
//! listen = "0.0.0.0:50051"
//! db = "lab.sqlite"
//! evidence_dir = "evidence"      # optional: where the evidence documents of the bench's runs
//!                                # are kept (default: `<db>.evidence/` beside an SQLite store;
//!                                # required with a bench on a PostgreSQL store)
//! profile = "profiles/illustrative.toml"
//! plugin_dir = "plugins"          # the only directory adapter plugins are loaded from
//! devices = ["bench.toml"]        # devices files (key material in *_file secret files), or
//!                                 # [[device]] tables below — one or the other
//! suites = "suites"               # suite ids: `mt`, `mt-active` (= suites/mt/active.toml), …
//! dmcs = "suites/dmcs"            # DMC descriptions, `<dmc id>.toml`
//! transport = "tcp"               # or "serial": how runs reach devices that have both
//!
//! [[plugin]]
//! file = "libmeterlab_dlms_adapter.so"
//! sha256 = "…"                   # the plugin loads only if its bytes hash to this
//! smso = ["smso-north", "smso-south"]
//! isolation = "process"          # optional: "in-process" (default) or "process" (sessions in
//!                                # plugin workers: a crash blocks only their cases)
//! workers = "per-session"        # optional, with "process": "per-plugin" (default: one
//!                                # worker for its sessions) or "per-session"
//!
//! [[plugin]]                     # the meters' IEC 62056-21 optical ports (steps via = "optical")
//! file = "libmeterlab_iec62056_21_adapter.so"
//! sha256 = "…"
//! smso = ["smso-north"]
//! port = "optical"               # optional: "dlms" (default, the device's DLMS link) or "optical"
//!
//! [[device]]                     # instead of `devices`: the devices file's [[device]] tables,
//! name = "hub-0001.esme"         # same keys, same checks (meterlab-devices reads them), errors
//! hub = "hub-0001"               # at this file's line and column; no `format` key
//! role = "esme"
//! dmc = "acme-ch1-e470-g4"
//! smso = "smso-north"
//! state = "active"
//! model = "ACME E470"
//! firmware = "2.0.1"
//! [device.tcp]
//! address = "10.0.4.17:4059"
//! wport = 2
//! [[device.client]]
//! sap = 1
//! authentication = "lls"
//! password_file = "secrets/hub-0001.lls"   # relative to this file; refused when others may read it
//!
//! [tls]
//! cert = "certs/server.pem"
//! key = "certs/server.key"       # refused when group- or world-readable
//! client_ca = "certs/ca.pem"     # enables mutual TLS (optional client certificates)
//!
//! [limits]                       # every limit, with its default
//! streams_per_principal = 8      # concurrent result streams per principal
//! max_result_message_bytes = 65536
//! max_governance_message_bytes = 4194304
//! max_in_flight = 256            # unanswered results per result stream
//! max_concurrent_streams = 64    # HTTP/2 streams per connection
//! rpc_deadline_ms = 30000        # unary RPCs; streaming RPCs are bounded by their own limits
//! run_concurrency = 2            # runs executing at once (more are queued)
//! run_jobs = 4                   # links a run works in parallel
//! max_lease_ttl_s = 3600         # longest device lease granted
//! drain_s = 20                   # SIGTERM: how long running cases get before they end blocked
//!
//! [[principal]]
//! name = "alice"
//! role = "test-manager"
//! token_sha256 = "…"             # from `meterlab token hash`
//! expires = 2027-03-31T00:00:00Z # optional
//!
//! [[principal]]
//! name = "ci-runner"
//! role = "engineer"
//! subject_cn = "ci-runner"       # client certificate subject common name
//! ```
//!
//! Every problem is reported at once, each as `file:line:col: what`. [`ServeConfig::parse`]
//! checks the text alone; [`ServeConfig::load`] also opens what it names (devices files, plugin
//! pins, suites and DMC directories).

mod bench;
mod upstream;

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::auth::{Principal, Principals, Role, TokenGrant};
use crate::error::{ConfigError, ConfigProblem};

pub use bench::{BenchConfig, DEFAULT_LIMITS, Limits, PluginPin, PluginPort};

/// The parsed serve config.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where the file is (for messages).
    pub path: PathBuf,
    /// `listen`, if given.
    pub listen: Option<SocketAddr>,
    /// `db`: an SQLite path resolved against the config's directory, or a `postgres://` URL.
    pub db: Option<PathBuf>,
    /// `evidence_dir`, resolved against the config's directory: where the bench's runs keep
    /// their evidence documents (`None`: beside the SQLite store, `<db>.evidence/`).
    pub evidence_dir: Option<PathBuf>,
    /// `profile`, resolved against the config's directory.
    pub profile: Option<PathBuf>,
    /// `[tls]`.
    pub tls: Option<TlsFiles>,
    /// `[[principal]]` entries.
    pub principals: Principals,
    /// `[limits] streams_per_principal`.
    pub streams_per_principal: usize,
    /// `[limits]`, defaults filled in.
    pub limits: Limits,
    /// `[upstream]`: this is a lab gateway forwarding its results there.
    pub upstream: Option<crate::upstream::UpstreamConfig>,
    /// The bench: plugins, devices, suites, DMC descriptions (`None` when the config names no
    /// `plugin_dir` or `devices`: the gateway then serves no devices and starts no runs).
    pub bench: Option<BenchConfig>,
}

/// Concurrent result streams a principal may have open unless `[limits]` says otherwise.
pub const DEFAULT_STREAMS_PER_PRINCIPAL: usize = 8;

/// The `[tls]` section: PEM files, resolved against the config's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key (a secret file).
    pub key: PathBuf,
    /// CA that client certificates must chain to; enables mutual TLS.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<Spanned<String>>,
    db: Option<Spanned<String>>,
    evidence_dir: Option<Spanned<String>>,
    profile: Option<String>,
    tls: Option<RawTls>,
    limits: Option<bench::RawLimits>,
    #[serde(default)]
    principal: Vec<Spanned<RawPrincipal>>,
    plugin_dir: Option<Spanned<String>>,
    #[serde(default)]
    plugin: Vec<Spanned<bench::RawPlugin>>,
    devices: Option<Spanned<bench::OneOrMany>>,
    /// Inline devices, read by `meterlab-devices` from the text (here only their spans).
    #[serde(default)]
    device: Vec<Spanned<toml::Table>>,
    suites: Option<Spanned<String>>,
    dmcs: Option<Spanned<String>>,
    transport: Option<Spanned<String>>,
    upstream: Option<Spanned<upstream::RawUpstream>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: String,
    key: String,
    client_ca: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrincipal {
    name: Spanned<String>,
    role: Spanned<String>,
    token_sha256: Option<Spanned<String>>,
    subject_cn: Option<Spanned<String>>,
    expires: Option<Spanned<toml::value::Datetime>>,
    #[serde(default)]
    revoked: bool,
}

pub(crate) struct Problems<'a> {
    file: &'a str,
    text: &'a str,
    found: Vec<ConfigProblem>,
}

impl Problems<'_> {
    /// The 1-based line of `span`'s start.
    pub(crate) fn line_of(&self, span: Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// A problem a reader of part of the file (the devices parser) located itself.
    pub(crate) fn add_at(&mut self, line: usize, col: usize, message: impl Into<String>) {
        self.found.push(ConfigProblem {
            file: self.file.to_owned(),
            line,
            col,
            message: message.into(),
        });
    }

    pub(crate) fn add(&mut self, span: Range<usize>, message: impl Into<String>) {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        self.found.push(ConfigProblem {
            file: self.file.to_owned(),
            line,
            col,
            message: message.into(),
        });
    }
}

impl ServeConfig {
    /// Reads and checks a serve config file.
    pub fn load(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        ServeConfig::check(path, &text, true)
    }

    /// Checks a serve config's text alone (no file it names is opened); `path` names it in
    /// messages and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<ServeConfig, ConfigError> {
        ServeConfig::check(path, text, false)
    }

    fn check(path: &Path, text: &str, open_files: bool) -> Result<ServeConfig, ConfigError> {
        let file = path.display().to_string();
        let mut problems = Problems {
            file: &file,
            text,
            found: Vec::new(),
        };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                problems.add(e.span().unwrap_or(0..0), e.message().trim());
                return Err(ConfigError::Invalid(problems.found));
            }
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &str| base.join(p);
        let listen = raw.listen.as_ref().and_then(|l| match l.get_ref().parse() {
            Ok(addr) => Some(addr),
            Err(e) => {
                problems.add(l.span(), format!("listen {:?}: {e}", l.get_ref()));
                None
            }
        });
        let limits = bench::limits(raw.limits.as_ref(), &mut problems);
        let streams_per_principal = limits.streams_per_principal;
        let raw_bench = bench::RawBench {
            plugin_dir: raw.plugin_dir.as_ref(),
            plugins: &raw.plugin,
            devices: raw.devices.as_ref(),
            inline_devices: &raw.device,
            suites: raw.suites.as_ref(),
            dmcs: raw.dmcs.as_ref(),
            transport: raw.transport.as_ref(),
        };
        let bench = bench::bench(&raw_bench, path, open_files, &mut problems);
        evidence_dir_problems(&raw, &mut problems);
        let upstream = raw
            .upstream
            .as_ref()
            .and_then(|u| upstream::upstream(u, base, &mut problems));
        let mut principals = Principals::default();
        let mut names = std::collections::HashSet::new();
        for entry in &raw.principal {
            let p = entry.get_ref();
            let name = p.name.get_ref().trim();
            if name.is_empty() {
                problems.add(p.name.span(), "principal name is empty");
            } else if !names.insert(name.to_owned()) {
                problems.add(
                    p.name.span(),
                    format!("principal {name:?} is defined twice"),
                );
            }
            let role = match p.role.get_ref().parse::<Role>() {
                Ok(role) => Some(role),
                Err(message) => {
                    problems.add(p.role.span(), message);
                    None
                }
            };
            let principal = role.map(|role| Principal {
                name: name.to_owned(),
                role,
            });
            let expires_unix = p.expires.as_ref().and_then(|e| match unix_seconds(e.get_ref()) {
                Some(at) => Some(at),
                None => {
                    problems.add(
                        e.span(),
                        "expires must be a full date-time with an offset, e.g. 2027-03-31T00:00:00Z",
                    );
                    None
                }
            });
            match (&p.token_sha256, &p.subject_cn) {
                (Some(_), Some(_)) | (None, None) => problems.add(
                    entry.span(),
                    format!("principal {name:?} needs exactly one of token_sha256 or subject_cn"),
                ),
                (Some(hash), None) => {
                    let parsed = hex::decode(hash.get_ref().trim())
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok());
                    match (parsed, principal) {
                        (None, _) => problems.add(
                            hash.span(),
                            "token_sha256 must be 64 hex digits (see `meterlab token hash`)",
                        ),
                        (Some(hash), Some(principal)) => principals.add_token(
                            hash,
                            TokenGrant {
                                principal,
                                expires_unix,
                                revoked: p.revoked,
                            },
                        ),
                        (Some(_), None) => {}
                    }
                }
                (None, Some(cn)) => {
                    if raw.tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
                        problems.add(
                            cn.span(),
                            "subject_cn needs [tls] client_ca (mutual TLS) to be verified",
                        );
                    }
                    if p.expires.is_some() || p.revoked {
                        problems.add(
                            entry.span(),
                            "expires/revoked apply to tokens; a certificate principal is revoked \
                             by removing it",
                        );
                    }
                    if let Some(principal) = principal {
                        principals.add_subject(cn.get_ref().trim().to_owned(), principal);
                    }
                }
            }
        }
        if !problems.found.is_empty() {
            return Err(ConfigError::Invalid(problems.found));
        }
        Ok(ServeConfig {
            path: path.to_owned(),
            listen,
            // A PostgreSQL URL names a server, not a file beside the config.
            db: raw.db.as_ref().map(|db| {
                let db = db.get_ref();
                if meterlab_store::is_postgres_url(db) {
                    PathBuf::from(db)
                } else {
                    resolve(db)
                }
            }),
            evidence_dir: raw
                .evidence_dir
                .as_ref()
                .map(|dir| resolve(dir.get_ref().trim())),
            profile: raw.profile.as_deref().map(resolve),
            tls: raw.tls.map(|t| TlsFiles {
                cert: resolve(&t.cert),
                key: resolve(&t.key),
                client_ca: t.client_ca.as_deref().map(resolve),
            }),
            principals,
            streams_per_principal,
            limits,
            upstream,
            bench,
        })
    }
}

/// An empty `evidence_dir`, and a bench on a PostgreSQL store with nowhere to keep its runs'
/// evidence (a file store keeps it beside the file; a database URL has no "beside").
fn evidence_dir_problems(raw: &RawConfig, problems: &mut Problems<'_>) {
    // Any bench key makes a bench (a bench with problems of its own still needs this said).
    let has_bench = raw.plugin_dir.is_some()
        || !raw.plugin.is_empty()
        || raw.devices.is_some()
        || !raw.device.is_empty()
        || raw.suites.is_some()
        || raw.dmcs.is_some();
    if let Some(dir) = &raw.evidence_dir
        && dir.get_ref().trim().is_empty()
    {
        problems.add(dir.span(), "evidence_dir is empty: name a directory");
    }
    if let Some(db) = &raw.db
        && has_bench
        && raw.evidence_dir.is_none()
        && meterlab_store::is_postgres_url(db.get_ref())
    {
        problems.add(
            db.span(),
            "db is a PostgreSQL store and the config has a bench: set evidence_dir to the \
             directory where its runs' evidence documents are kept",
        );
    }
}

/// Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

/// Unix seconds of a TOML offset date-time; `None` for local dates/times.
fn unix_seconds(dt: &toml::value::Datetime) -> Option<i64> {
    let date = dt.date?;
    let clock = dt.time?;
    let offset_minutes = match dt.offset? {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i64::from(minutes),
    };
    let month = time::Month::try_from(date.month).ok()?;
    let day = time::Date::from_calendar_date(i32::from(date.year), month, date.day).ok()?;
    let days = i64::from(day.to_julian_day()) - i64::from(UNIX_EPOCH_JULIAN_DAY);
    let seconds =
        i64::from(clock.hour) * 3600 + i64::from(clock.minute) * 60 + i64::from(clock.second);
    Some(days * 86_400 + seconds - offset_minutes * 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn a_full_config_parses_with_paths_relative_to_the_file() {
        let text = format!(
            "listen = \"0.0.0.0:50051\"\ndb = \"lab.sqlite\"\nprofile = \"p.toml\"\n\
             [tls]\ncert = \"s.pem\"\nkey = \"s.key\"\nclient_ca = \"ca.pem\"\n\
             [[principal]]\nname = \"alice\"\nrole = \"test-manager\"\ntoken_sha256 = \"{HASH}\"\n\
             expires = 2027-01-01T00:00:00Z\n\
             [[principal]]\nname = \"ci\"\nrole = \"engineer\"\nsubject_cn = \"ci-runner\"\n"
        );
        let config = ServeConfig::parse(Path::new("/etc/lab/serve.toml"), &text)
            .expect("the config is valid");
        assert_eq!(config.db, Some(PathBuf::from("/etc/lab/lab.sqlite")));
        assert_eq!(
            config.tls.map(|t| t.client_ca),
            Some(Some(PathBuf::from("/etc/lab/ca.pem")))
        );
        assert_eq!(config.principals.len(), 2);
    }

    #[test]
    fn every_problem_is_reported_with_file_line_and_column() {
        let text = "[[principal]]\nname = \"a\"\nrole = \"root\"\ntoken_sha256 = \"xyz\"\n\
                    [[principal]]\nname = \"a\"\nrole = \"viewer\"\nsubject_cn = \"a\"\n";
        let error = ServeConfig::parse(Path::new("s.toml"), text).expect_err("invalid");
        let text = error.to_string();
        assert!(text.contains("s.toml:3:8: unknown role \"root\""), "{text}");
        assert!(
            text.contains("s.toml:4:16: token_sha256 must be 64 hex"),
            "{text}"
        );
        assert!(
            text.contains("s.toml:6:8: principal \"a\" is defined twice"),
            "{text}"
        );
        assert!(
            text.contains("s.toml:8:14: subject_cn needs [tls] client_ca"),
            "{text}"
        );
    }

    #[test]
    fn unknown_keys_and_syntax_errors_name_the_place() {
        let error = ServeConfig::parse(Path::new("s.toml"), "listen = \"x\"\nbogus = 1\n")
            .expect_err("invalid");
        assert!(error.to_string().starts_with("s.toml:2:1:"), "{error}");
    }

    #[test]
    fn an_upstream_table_names_urls_credentials_and_backoff() {
        let text = "[upstream]\nurl = [\"https://central-a:50051\", \"https://central-b:50051\"]\n\
                    ca = \"ca.pem\"\ntoken_file = \"lab.token\"\nbackoff_max_ms = 2000\n";
        let config = ServeConfig::parse(Path::new("/etc/lab/serve.toml"), text).expect("valid");
        let upstream = config.upstream.expect("an upstream");
        assert_eq!(upstream.urls.len(), 2);
        assert_eq!(upstream.ca, Some(PathBuf::from("/etc/lab/ca.pem")));
        assert_eq!(upstream.backoff.max, std::time::Duration::from_secs(2));
        let bad = "[upstream]\nurl = \"central:50051\"\nbackoff_first_ms = 0\ncert = \"c.pem\"\n";
        let error = ServeConfig::parse(Path::new("s.toml"), bad).expect_err("invalid");
        let text = error.to_string();
        assert!(
            text.contains("s.toml:2:7: upstream url \"central:50051\" must start with http"),
            "{text}"
        );
        assert!(
            text.contains("s.toml:3:20: backoff_first_ms must be"),
            "{text}"
        );
        assert!(text.contains("cert and key go together"), "{text}");
    }

    #[test]
    fn evidence_dir_is_resolved_and_required_for_a_bench_on_postgresql() {
        let config = ServeConfig::parse(
            Path::new("/etc/lab/serve.toml"),
            "db = \"lab.sqlite\"\nevidence_dir = \"kept\"\n",
        )
        .expect("valid");
        assert_eq!(config.evidence_dir, Some(PathBuf::from("/etc/lab/kept")));
        let config =
            ServeConfig::parse(Path::new("s.toml"), "db = \"lab.sqlite\"\n").expect("valid");
        assert_eq!(config.evidence_dir, None);
        let error =
            ServeConfig::parse(Path::new("s.toml"), "evidence_dir = \" \"\n").expect_err("invalid");
        assert!(
            error
                .to_string()
                .contains("s.toml:1:16: evidence_dir is empty"),
            "{error}"
        );
        // A bench on PostgreSQL without one is refused at the db line.
        let bench = "db = \"postgres://lab@db/meterlab\"\nplugin_dir = \"plugins\"\n\
                     suites = \"suites\"\ndmcs = \"dmcs\"\n";
        let error = ServeConfig::parse(Path::new("s.toml"), bench).expect_err("invalid");
        assert!(
            error
                .to_string()
                .contains("s.toml:1:6: db is a PostgreSQL store and the config has a bench"),
            "{error}"
        );
        let with_dir = format!("{bench}evidence_dir = \"/srv/evidence\"\n");
        match ServeConfig::parse(Path::new("s.toml"), &with_dir) {
            Ok(config) => assert_eq!(config.evidence_dir, Some(PathBuf::from("/srv/evidence"))),
            Err(error) => assert!(!error.to_string().contains("evidence_dir"), "{error}"),
        }
    }

    #[test]
    fn offset_date_times_become_unix_seconds() {
        let dt: toml::value::Datetime = "1970-01-02T00:00:00+01:00".parse().expect("datetime");
        assert_eq!(unix_seconds(&dt), Some(86_400 - 3600));
        let dt: toml::value::Datetime = "2027-01-01T00:00:00Z".parse().expect("datetime");
        assert_eq!(unix_seconds(&dt), Some(1_798_761_600));
        let local: toml::value::Datetime = "2027-01-01".parse().expect("date");
        assert_eq!(unix_seconds(&local), None);
    }
}
