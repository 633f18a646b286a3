//! The one tower layer in front of every service: authenticates the caller, looks the RPC up
//! in [`AUTHORISATION`](super::AUTHORISATION) and either refuses the request with a gRPC status
//! or passes it on with the [`Principal`] in its extensions.

use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tower::{Layer, Service};

use super::limits::{HoldingPermit, LIMITED_STREAM, StreamBudgets};
use super::table::{Rule, rule_for};
use super::{Principal, Principals};

/// Builds [`AuthService`]s. Without principals (`None`) every caller is
/// [`Principal::anonymous_admin`]: the open gateway `meterlab serve` allows only on loopback
/// or with `--insecure`.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    principals: Option<Arc<Principals>>,
    streams: Option<Arc<StreamBudgets>>,
}

impl AuthLayer {
    /// A layer that authenticates against `principals`, or lets everyone in as admin when
    /// `None`.
    pub fn new(principals: Option<Arc<Principals>>) -> AuthLayer {
        AuthLayer {
            principals,
            streams: None,
        }
    }

    /// Also limits each principal to `per_principal` concurrent result streams.
    pub fn with_streams_per_principal(mut self, per_principal: usize) -> AuthLayer {
        self.streams = Some(Arc::new(StreamBudgets::new(per_principal)));
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            principals: self.principals.clone(),
            streams: self.streams.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    principals: Option<Arc<Principals>>,
    streams: Option<Arc<StreamBudgets>>,
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
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let principal = match self.authorise(&request) {
            Ok(principal) => principal,
            Err(status) => return Box::pin(std::future::ready(Ok(status.into_http()))),
        };
        let permit = match (&self.streams, &principal) {
            (Some(streams), Some(p)) if request.uri().path() == LIMITED_STREAM => {
                match streams.admit(&p.name) {
                    Ok(permit) => Some(permit),
                    Err(status) => return Box::pin(std::future::ready(Ok(status.into_http()))),
                }
            }
            _ => None,
        };
        if let Some(principal) = principal {
            request.extensions_mut().insert(principal);
        }
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            Ok(match permit {
                Some(permit) => {
                    response.map(|body| tonic::body::Body::new(HoldingPermit::new(body, permit)))
                }
                None => response,
            })
        })
    }
}
