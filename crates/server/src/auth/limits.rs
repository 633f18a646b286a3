//! Per-principal limit on concurrent result streams, enforced in the authorisation layer: a
//! principal at its limit gets RESOURCE_EXHAUSTED for a new stream while its open streams (and
//! every other principal's) keep working. Each stream already bounds its unanswered results
//! (`StreamLimits::max_in_flight`), so a principal's in-flight results are bounded by
//! `streams × max_in_flight`.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

/// The RPC whose concurrent calls are limited per principal.
pub const LIMITED_STREAM: &str = "/meterlab.v1.ResultService/StreamResults";

/// Open-stream budgets by principal name.
#[derive(Debug)]
pub struct StreamBudgets {
    per_principal: usize,
    budgets: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl StreamBudgets {
    /// At most `per_principal` concurrent result streams per principal.
    pub fn new(per_principal: usize) -> StreamBudgets {
        StreamBudgets {
            per_principal,
            budgets: Mutex::new(HashMap::new()),
        }
    }

    /// A permit for one more stream of `principal`, held until the stream's response ends.
    pub fn admit(&self, principal: &str) -> Result<OwnedSemaphorePermit, Status> {
        let semaphore = self
            .budgets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(principal.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_principal)))
            .clone();
        semaphore.try_acquire_owned().map_err(|_| {
            Status::resource_exhausted(format!(
                "principal {principal} already has {} result streams open (the limit)",
                self.per_principal
            ))
        })
    }
}

/// A response body that holds a stream permit until it is finished or dropped.
#[derive(Debug)]
pub struct HoldingPermit {
    inner: tonic::body::Body,
    _permit: OwnedSemaphorePermit,
}

impl HoldingPermit {
    pub fn new(inner: tonic::body::Body, permit: OwnedSemaphorePermit) -> HoldingPermit {
        HoldingPermit {
            inner,
            _permit: permit,
        }
    }
}

impl Body for HoldingPermit {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
