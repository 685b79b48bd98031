//! `eth_call`s made at the same moment, sent together as one JSON-RPC batch request, as viem's
//! HTTP transport does with `batch: true`: each call waits for nothing, but the calls that queue
//! while the sender is busy share one HTTP exchange. Under a crowd of cold joins that divides
//! the client's per-request work (a request, a response, their framing and the wake-ups between
//! tasks) among the calls of a batch, on Marquee's side and on the node's.
//!
//! Written here because alloy batches only on request (`BatchRequest`) or by folding calls into
//! Multicall3 (`CallBatchLayer`), which cannot carry the gate's deployless probe.

use alloy::primitives::Bytes;
use alloy::providers::{DynProvider, Provider};
use alloy::transports::TransportResult;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

/// Most calls in one batch request by default: well under what public RPC providers accept.
pub const MAX_BATCH: usize = 32;

type Pending = (Box<RawValue>, oneshot::Sender<TransportResult<Bytes>>);

/// The handle of the task that sends `eth_call`s in batches; cheap to clone.
#[derive(Debug, Clone)]
pub struct CallBatcher {
    tx: mpsc::Sender<Pending>,
}

impl CallBatcher {
    /// Starts the task that sends the calls through `provider`, at most `max` (at least 1) in
    /// one request.
    pub fn spawn(provider: DynProvider, max: usize) -> Self {
        let max = max.max(1);
        let (tx, mut rx) = mpsc::channel::<Pending>(4 * max);
        tokio::spawn(async move {
            let mut queued = Vec::with_capacity(max);
            while rx.recv_many(&mut queued, max).await > 0 {
                if let [_] = queued.as_slice()
                    && max > 1
                {
                    // Calls that came with the first are already in line behind it: one turn
                    // of the scheduler lets them into the same request.
                    tokio::task::yield_now().await;
                    if !rx.is_empty() {
                        rx.recv_many(&mut queued, max - 1).await;
                    }
                }
                // Bounded like every attempt: by then its callers have given up, and a node
                // that never answers must not pile up requests in flight.
                let sending = send(provider.clone(), std::mem::take(&mut queued));
                tokio::spawn(tokio::time::timeout(super::ATTEMPT_TIMEOUT, sending));
                queued.reserve(max);
            }
        });
        Self { tx }
    }

    /// `eth_call` with `params`, the JSON array of the call object and the block, as written.
    pub async fn call(&self, params: Box<RawValue>) -> TransportResult<Bytes> {
        let (reply, answer) = oneshot::channel();
        let closed =
            || alloy::transports::TransportErrorKind::custom_str("the call batcher stopped");
        self.tx.send((params, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// Sends `calls`: alone as a plain request, several as one batch.
async fn send(provider: DynProvider, mut calls: Vec<Pending>) {
    if calls.len() == 1 {
        let (params, reply) = calls.pop().expect("one call");
        let _ = reply.send(provider.client().request("eth_call", params).await);
        return;
    }
    let client = provider.client();
    let mut batch = alloy::rpc::client::BatchRequest::new(client);
    let mut waiters = Vec::with_capacity(calls.len());
    for (params, reply) in calls {
        match batch.add_call::<_, Bytes>("eth_call", &params) {
            Ok(waiter) => waiters.push((waiter, reply)),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }
    // A failed batch drops its answers' senders: each waiter then reports the failure.
    let _ = batch.send().await;
    for (waiter, reply) in waiters {
        let _ = reply.send(waiter.await);
    }
}
