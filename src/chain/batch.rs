//! `eth_call`s made at the same moment, sent together as one JSON-RPC batch request, as viem's
//! HTTP transport does with `batch: true`: each call waits for nothing, but the calls that queue
//! while the sender is busy share one HTTP exchange. Under a crowd of cold joins that divides
//! the client's per-request work (a request, a response, their framing and the wake-ups between
//! tasks) among the calls of a batch, on Marquee's side and on the node's.
//!
//! Written here because alloy batches only on request (`BatchRequest`) or by folding calls into
//! Multicall3 (`CallBatchLayer`), which cannot carry the gate's deployless probe. The request
//! is written here too: each call's parameters are already JSON (9 KB of probe code), and
//! alloy's batch copied them twice more, into a request object and then into a body grown by
//! doubling; here they are copied once, into a body of the right size (perf, `make bench`
//! join, cold: serializing took 4% of the server's CPU).

use std::borrow::Cow;
use std::io::Write;

use alloy::primitives::Bytes;
use alloy::rpc::json_rpc::{Id, ResponsePacket, ResponsePayload};
use alloy::transports::{RpcError, TransportError, TransportErrorKind, TransportResult};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use url::Url;

/// Most calls in one batch request by default: well under what public RPC providers accept.
pub const MAX_BATCH: usize = 32;

type Pending = (Params, oneshot::Sender<TransportResult<Bytes>>);

/// An `eth_call`'s parameters, the JSON array of the call object and the block, as text in
/// pieces that the request takes one after the other: a piece the same for every call (the
/// probe's 9 KB of code) is borrowed, not copied for each.
#[derive(Debug, Clone)]
pub struct Params(Vec<Cow<'static, str>>);

impl Params {
    /// Parameters written by the caller in `pieces`, which joined must be the JSON array (a
    /// malformed one makes the node refuse the whole request it is in).
    pub fn from_pieces(pieces: Vec<Cow<'static, str>>) -> Self {
        Self(pieces)
    }

    fn len(&self) -> usize {
        self.0.iter().map(|p| p.len()).sum()
    }
}

impl From<Box<RawValue>> for Params {
    fn from(json: Box<RawValue>) -> Self {
        Self(vec![Cow::Owned(json.get().to_owned())])
    }
}

/// The handle of the task that sends `eth_call`s in batches; cheap to clone.
#[derive(Debug, Clone)]
pub struct CallBatcher {
    tx: mpsc::Sender<Pending>,
}

impl CallBatcher {
    /// Starts the task that sends the calls through `client` to the node at `url`, at most `max`
    /// (at least 1) in one request.
    pub fn spawn(client: reqwest::Client, url: Url, max: usize) -> Self {
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
                let sending = send(client.clone(), url.clone(), std::mem::take(&mut queued));
                tokio::spawn(tokio::time::timeout(super::ATTEMPT_TIMEOUT, sending));
                queued.reserve(max);
            }
        });
        Self { tx }
    }

    /// `eth_call` with `params`, the JSON array of the call object and the block, as written.
    pub async fn call(&self, params: impl Into<Params>) -> TransportResult<Bytes> {
        let params = params.into();
        let (reply, answer) = oneshot::channel();
        let closed =
            || alloy::transports::TransportErrorKind::custom_str("the call batcher stopped");
        self.tx.send((params, reply)).await.map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

/// Sends `calls`: alone as a plain request, several as one batch; answers each.
async fn send(client: reqwest::Client, url: Url, calls: Vec<Pending>) {
    let (params, replies): (Vec<_>, Vec<_>) = calls.into_iter().unzip();
    match exchange(&client, url, &params).await {
        Ok(answers) => {
            for (i, (reply, answer)) in replies.into_iter().zip(answers).enumerate() {
                let missing = || TransportErrorKind::missing_batch_response(Id::Number(i as u64));
                let _ = reply.send(answer.unwrap_or_else(|| Err(missing())));
            }
        }
        // A failed request fails each call in it, none with an answer.
        Err(failed) => {
            for reply in replies {
                let _ = reply.send(Err(failed.to_error()));
            }
        }
    }
}

/// Why a whole request got no answers.
enum Failed {
    /// The node answered with this HTTP status and body.
    Status(u16, String),
    /// No answer, or one that is not JSON-RPC.
    Other(String),
}

impl Failed {
    fn to_error(&self) -> TransportError {
        match self {
            Failed::Status(status, body) => TransportErrorKind::http_error(*status, body.clone()),
            Failed::Other(e) => TransportErrorKind::custom_str(e),
        }
    }
}

/// One HTTP exchange: each call's answer by its index, `None` where the node gave none.
async fn exchange(
    client: &reqwest::Client,
    url: Url,
    params: &[Params],
) -> Result<Vec<Option<TransportResult<Bytes>>>, Failed> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body(params))
        .send()
        .await
        .map_err(|e| Failed::Other(e.to_string()))?;
    let status = response.status();
    let text = response
        .bytes()
        .await
        .map_err(|e| Failed::Other(e.to_string()))?;
    // Some providers answer JSON-RPC errors with an HTTP error status: the answer still counts.
    let packet = match serde_json::from_slice::<ResponsePacket>(&text) {
        Ok(packet) => packet,
        Err(_) if !status.is_success() => {
            let body = String::from_utf8_lossy(&text).into_owned();
            return Err(Failed::Status(status.as_u16(), body));
        }
        Err(e) => return Err(Failed::Other(format!("not a JSON-RPC answer: {e}"))),
    };
    let responses = match packet {
        ResponsePacket::Single(r) => vec![r],
        ResponsePacket::Batch(rs) => rs,
    };
    let mut answers: Vec<_> = params.iter().map(|_| None).collect();
    for r in responses {
        if let Id::Number(i) = r.id
            && let Some(slot) = answers.get_mut(i as usize)
        {
            *slot = Some(answer(r.payload));
        }
    }
    Ok(answers)
}

/// The JSON-RPC request of `eth_call`s with `params`, each call's id its index: one call alone,
/// several as a batch.
fn body(params: &[Params]) -> Vec<u8> {
    let size = params.iter().map(|p| p.len() + 64).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(size);
    let batch = params.len() > 1;
    if batch {
        out.push(b'[');
    }
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let _ = write!(
            out,
            r#"{{"jsonrpc":"2.0","id":{i},"method":"eth_call","params":"#
        );
        for piece in &p.0 {
            out.extend_from_slice(piece.as_bytes());
        }
        out.push(b'}');
    }
    if batch {
        out.push(b']');
    }
    out
}

/// One call's result: its return data, or the node's JSON-RPC error (a revert among them).
fn answer(payload: ResponsePayload) -> TransportResult<Bytes> {
    match payload {
        ResponsePayload::Success(raw) => {
            serde_json::from_str(raw.get()).map_err(|e| RpcError::deser_err(e, raw.get()))
        }
        ResponsePayload::Failure(e) => Err(RpcError::ErrorResp(e)),
    }
}
