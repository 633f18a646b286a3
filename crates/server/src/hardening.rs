//! Statuses a client can act on for requests tonic refuses before a service sees them: an
//! oversized request message is RESOURCE_EXHAUSTED (tonic says OUT_OF_RANGE), a message that is
//! not valid protobuf — say, invalid UTF-8 in a string field — is INVALID_ARGUMENT naming the
//! field (tonic says INTERNAL, which reads as a server fault). Only refusals sent before any
//! response message (trailers-only responses, whose status is in the headers) are rewritten;
//! the result stream decodes and answers each message itself.

use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::HeaderValue;
use tonic::{Code, Status};
use tower::{Layer, Service};

/// Builds [`StatusService`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusLayer;

impl<S> Layer<S> for StatusLayer {
    type Service = StatusService<S>;
    fn layer(&self, inner: S) -> StatusService<S> {
        StatusService { inner }
    }
}

/// See [`StatusLayer`].
#[derive(Debug, Clone)]
pub struct StatusService<S> {
    inner: S,
}

/// The status a refusal should carry, if tonic's is misleading.
pub(crate) fn clarify(code: Code, message: &str) -> Option<Status> {
    match code {
        Code::OutOfRange if message.contains("too large") => Some(Status::resource_exhausted(
            format!("request message larger than this gateway accepts: {message}"),
        )),
        Code::Internal if message.starts_with("failed to decode Protobuf message") => {
            let detail = message
                .trim_start_matches("failed to decode Protobuf message")
                .trim_start_matches(':')
                .trim();
            Some(Status::invalid_argument(format!(
                "the request is not a valid protobuf message: {detail}"
            )))
        }
        _ => None,
    }
}

fn rewrite(headers: &mut http::HeaderMap) {
    let Some(code) = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map(Code::from_i32)
    else {
        return;
    };
    let message = headers
        .get("grpc-message")
        .map(|v| percent_decode(v.as_bytes()))
        .unwrap_or_default();
    let Some(status) = clarify(code, &message) else {
        return;
    };
    tracing::info!(from = ?code, to = ?status.code(), "request refused before its service: {message}");
    headers.insert("grpc-status", HeaderValue::from(status.code() as i32));
    if let Ok(value) = HeaderValue::from_str(&percent_encode(status.message())) {
        headers.insert("grpc-message", value);
    }
}

fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl<S, B> Service<http::Request<B>> for StatusService<S>
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

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move {
            let mut response = response.await?;
            rewrite(response.headers_mut());
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonic_refusals_become_statuses_a_client_can_act_on() {
        let big = clarify(
            Code::OutOfRange,
            "Error, decoded message length too large: found 5 bytes, the limit is: 4 bytes",
        )
        .expect("rewritten");
        assert_eq!(big.code(), Code::ResourceExhausted);
        let bad = clarify(
            Code::Internal,
            "failed to decode Protobuf message: EntryKey.smso_id: invalid string value: data is \
             not UTF-8 encoded",
        )
        .expect("rewritten");
        assert_eq!(bad.code(), Code::InvalidArgument);
        assert!(
            bad.message().contains("EntryKey.smso_id"),
            "{}",
            bad.message()
        );
        assert!(clarify(Code::Internal, "the store failed").is_none());
    }

    #[test]
    fn grpc_messages_round_trip_through_percent_encoding() {
        let text = "invalid: EntryKey.smso_id 100% ü";
        assert_eq!(percent_decode(percent_encode(text).as_bytes()), text);
    }
}
