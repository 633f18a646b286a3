//! Who may do what: principals (bearer tokens stored as SHA-256 hashes, mutual-TLS certificate
//! subjects), their roles, the one authorisation table and the one tower layer that enforces it
//! in front of every service (health excepted).

mod layer;
mod limits;
mod table;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use tonic::Status;

pub use layer::{AuthLayer, AuthService};
pub use limits::LIMITED_STREAM;
pub use table::{AUTHORISATION, Rule, rule_for};

/// What a principal may do; each role includes everything the roles below it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read devices, runs, verdicts and reports.
    Viewer,
    /// Also lease devices, start and cancel runs, stream results.
    Engineer,
    /// Also plan entries and phases, record Depth & Breadth status, raise, update and close
    /// Testing Issues, de-scope, record regression runs and DMC changes.
    TestManager,
    /// Everything, including forced lease release.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Engineer, Role::TestManager, Role::Admin];

    /// The name used in the serve config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Engineer => "engineer",
            Role::TestManager => "test-manager",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}; expected one of viewer, engineer, test-manager, admin")
            })
    }
}

/// An authenticated caller, put in each request's extensions by [`AuthLayer`] so services can
/// attribute what they record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The name from the serve config (`anonymous` on an open gateway).
    pub name: String,
    /// What it may do.
    pub role: Role,
}

impl Principal {
    /// The principal every caller is on a gateway without configured principals (loopback or
    /// `--insecure` only).
    pub fn anonymous_admin() -> Principal {
        Principal {
            name: "anonymous".to_owned(),
            role: Role::Admin,
        }
    }
}

/// One configured bearer token, known only by its SHA-256 hash.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// Who presents it.
    pub principal: Principal,
    /// Unix seconds after which it is refused.
    pub expires_unix: Option<i64>,
    /// Refused whatever its expiry.
    pub revoked: bool,
}

/// The principals a gateway knows, by token hash and by client-certificate subject common name.
#[derive(Debug, Clone, Default)]
pub struct Principals {
    tokens: HashMap<[u8; 32], TokenGrant>,
    subjects: HashMap<String, Principal>,
}

/// SHA-256 of a bearer token, as stored in the serve config.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Principals {
    /// Adds a token principal by the hash of its token.
    pub fn add_token(&mut self, hash: [u8; 32], grant: TokenGrant) {
        self.tokens.insert(hash, grant);
    }

    /// Adds a principal identified by the common name of its client certificate's subject
    /// (the certificate must chain to the configured client CA).
    pub fn add_subject(&mut self, common_name: String, principal: Principal) {
        self.subjects.insert(common_name, principal);
    }

    /// How many principals are configured.
    pub fn len(&self) -> usize {
        self.tokens.len() + self.subjects.len()
    }

    /// No principal is configured.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Authenticates a request: a bearer token when an `authorization` header is present
    /// (it must then be valid), else the verified client certificate. The token is never put
    /// in the returned status or in logs.
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        client_cert_der: Option<&[u8]>,
        now_unix: i64,
    ) -> Result<Principal, Status> {
        if let Some(header) = authorization {
            let token = std::str::from_utf8(header)
                .ok()
                .and_then(|h| h.strip_prefix("Bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| {
                    Status::unauthenticated("authorization header is not `Bearer <token>`")
                })?;
            let grant = self
                .tokens
                .get(&token_hash(token))
                .ok_or_else(|| Status::unauthenticated("unknown bearer token"))?;
            if grant.revoked {
                return Err(Status::unauthenticated(format!(
                    "the token of principal {} is revoked",
                    grant.principal.name
                )));
            }
            if grant.expires_unix.is_some_and(|at| now_unix >= at) {
                return Err(Status::unauthenticated(format!(
                    "the token of principal {} has expired",
                    grant.principal.name
                )));
            }
            return Ok(grant.principal.clone());
        }
        if let Some(der) = client_cert_der {
            let common_name = subject_common_name(der).ok_or_else(|| {
                Status::unauthenticated("client certificate has no readable subject common name")
            })?;
            return self.subjects.get(&common_name).cloned().ok_or_else(|| {
                Status::unauthenticated(format!(
                    "client certificate subject CN={common_name} is not a configured principal"
                ))
            });
        }
        Err(Status::unauthenticated(
            "no credentials: send `authorization: Bearer <token>` or a client certificate",
        ))
    }
}

/// The subject common name of a DER certificate (already verified by rustls against the client
/// CA before this is called).
pub fn subject_common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(name: &str, role: Role, expires_unix: Option<i64>, revoked: bool) -> TokenGrant {
        TokenGrant {
            principal: Principal {
                name: name.to_owned(),
                role,
            },
            expires_unix,
            revoked,
        }
    }

    #[test]
    fn tokens_are_matched_by_hash_and_refused_when_expired_or_revoked() {
        let mut p = Principals::default();
        p.add_token(
            token_hash("good"),
            grant("alice", Role::Viewer, Some(100), false),
        );
        p.add_token(token_hash("gone"), grant("bob", Role::Admin, None, true));
        let ok = p.authenticate(Some(b"Bearer good"), None, 99);
        assert_eq!(ok.map(|p| p.name).ok(), Some("alice".to_owned()));
        let expired = p.authenticate(Some(b"Bearer good"), None, 100);
        assert!(expired.is_err_and(|s| s.message().contains("expired")));
        let revoked = p.authenticate(Some(b"Bearer gone"), None, 0);
        assert!(revoked.is_err_and(|s| s.message().contains("revoked")));
        let unknown = p.authenticate(Some(b"Bearer other"), None, 0);
        assert!(unknown.is_err_and(|s| s.code() == tonic::Code::Unauthenticated));
        let none = p.authenticate(None, None, 0);
        assert!(none.is_err_and(|s| s.code() == tonic::Code::Unauthenticated));
    }

    #[test]
    fn roles_are_ordered_and_named_as_in_the_config() {
        assert!(Role::Viewer < Role::Engineer && Role::Engineer < Role::TestManager);
        assert!(Role::TestManager < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
