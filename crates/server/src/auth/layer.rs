//! The one tower layer in front of every service: authenticates the caller, looks the RPC up
//! in [`AUTHORISATION`](super::AUTHORISATION) and either refuses the request with a gRPC status
//! or passes it on with the [`Principal`] in its extensions.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::{Either, Ready, ready};
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use super::table::{Rule, rule_for};
use super::{Principal, Principals};

/// Builds [`AuthService`]s. Without principals (`None`) every caller is
/// [`Principal::anonymous_admin`]: the open gateway `meterlab serve` allows only on loopback
/// or with `--insecure`.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    principals: Option<Arc<Principals>>,
}

impl AuthLayer {
    /// A layer that authenticates against `principals`, or lets everyone in as admin when
    /// `None`.
    pub fn new(principals: Option<Arc<Principals>>) -> AuthLayer {
        AuthLayer { principals }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            principals: self.principals.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    principals: Option<Arc<Principals>>,
}

#[allow(
    clippy::disallowed_methods,
    reason = "the gRPC service edge reads the wall clock to check token expiry"
)]
fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl<S> AuthService<S> {
    /// `Ok(None)`: a public RPC, passed on without a principal.
    fn authorise<B>(&self, request: &http::Request<B>) -> Result<Option<Principal>, Status> {
        let path = request.uri().path();
        let rule = rule_for(path);
        if rule == Some(Rule::Public) {
            return Ok(None);
        }
        let principal = match &self.principals {
            None => Principal::anonymous_admin(),
            Some(principals) => {
                let authorization = request
                    .headers()
                    .get(http::header::AUTHORIZATION)
                    .map(|v| v.as_bytes());
                let certs = request
                    .extensions()
                    .get::<TlsConnectInfo<TcpConnectInfo>>()
                    .and_then(|info| info.peer_certs());
                let leaf = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
                principals
                    .authenticate(authorization, leaf, now_unix())
                    .inspect_err(|status| {
                        tracing::info!(path, reason = status.message(), "request unauthenticated");
                    })?
            }
        };
        match rule {
            Some(Rule::AtLeast(needed)) if principal.role >= needed => {
                tracing::debug!(path, principal = %principal.name, role = %principal.role, "request authorised");
                Ok(Some(principal))
            }
            Some(Rule::AtLeast(needed)) => {
                tracing::info!(path, principal = %principal.name, role = %principal.role, %needed, "request denied");
                Err(Status::permission_denied(format!(
                    "{path} needs role {needed}; principal {} has role {}",
                    principal.name, principal.role
                )))
            }
            Some(Rule::Public) | None => Err(Status::permission_denied(format!(
                "{path} is not in the authorisation table"
            ))),
        }
    }
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Either<Ready<Result<Self::Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.authorise(&request) {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                Either::Right(self.inner.call(request))
            }
            Err(status) => Either::Left(ready(Ok(status.into_http()))),
        }
    }
}
