//! The gate's `eth_call`s made at the same moment share one JSON-RPC batch request, and each
//! gets its own answer back.

use futures_util::future::join_all;
use marquee::chain::Chain;
use marquee::chain::anvil::Anvil;
use serde_json::value::RawValue;

use crate::helpers::{free_port, root};
use crate::rpc_log::RpcLog;

/// Parameters of a deployless `eth_call` whose code returns `n` as a 32-byte word, or reverts
/// when `n` is `None`.
fn returning(n: Option<u8>) -> Box<RawValue> {
    // PUSH1 n PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN / PUSH1 0 PUSH1 0 REVERT
    let code = match n {
        Some(n) => format!("60{n:02x}60005260206000f3"),
        None => "60006000fd".into(),
    };
    RawValue::from_string(format!(r#"[{{"input":"0x{code}"}},"latest"]"#)).unwrap()
}

/// A fresh Anvil, and the URL of the recording proxy in front of it.
async fn anvil_behind_log() -> (Anvil, String, RpcLog) {
    let anvil = Anvil::spawn(&root().join("anvil"), free_port(), &["--silent"])
        .await
        .unwrap();
    let (url, log) = RpcLog::start(anvil.url.to_string()).await;
    (anvil, url, log)
}

// One thread: every call is queued before the batcher runs, so the batch is certain.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_calls_share_one_request_and_keep_their_own_answers() {
    let (_anvil, url, log) = anvil_behind_log().await;
    let chain = Chain::connect(&url.parse().unwrap());

    let asked = [Some(1), Some(2), None, Some(4), Some(5)];
    let answers = join_all(asked.map(|n| chain.calls.call(returning(n)))).await;
    assert_eq!(log.requests(), [vec!["eth_call"; 5]], "one batch of five");
    for (n, answer) in asked.iter().zip(&answers) {
        match n {
            Some(n) => assert_eq!(answer.as_ref().unwrap()[31], *n, "{answer:?}"),
            None => assert!(
                answer.as_ref().unwrap_err().as_error_resp().is_some(),
                "the reverting call fails alone, as a JSON-RPC error: {answer:?}"
            ),
        }
    }

    log.clear();
    let one = chain.calls.call(returning(Some(7))).await.unwrap();
    assert_eq!(one[31], 7);
    assert_eq!(log.requests(), [["eth_call"]], "alone, a plain request");

    // A batch the provider refuses fails every call in it, none with an answer.
    log.clear();
    log.fail_next("eth_call", 1);
    let answers = join_all([1, 2, 3].map(|n| chain.calls.call(returning(Some(n))))).await;
    assert_eq!(log.requests().len(), 1);
    assert!(answers.iter().all(Result::is_err), "{answers:?}");
    let again = join_all([1, 2].map(|n| chain.calls.call(returning(Some(n))))).await;
    assert_eq!(again[1].as_ref().unwrap()[31], 2, "answered again");
}

// A node that takes requests and never answers: each call gives up after one attempt's bound,
// and the requests it made are abandoned (their connections closed), not left in flight.
#[tokio::test(flavor = "current_thread")]
async fn calls_to_a_node_that_never_answers_give_up_and_let_go() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (closed_tx, mut closed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let closed_tx = closed_tx.clone();
            tokio::spawn(async move {
                // Reads the request and whatever follows, answering nothing, until the client
                // hangs up.
                let mut buf = [0u8; 4096];
                while tokio::io::AsyncReadExt::read(&mut socket, &mut buf)
                    .await
                    .is_ok_and(|n| n > 0)
                {}
                let _ = closed_tx.send(());
            });
        }
    });
    let chain = Chain::connect(&url.parse().unwrap());
    let calls = join_all([1, 2].map(|n| chain.calls.call(returning(Some(n)))));
    let answers = tokio::time::timeout(std::time::Duration::from_secs(10), calls)
        .await
        .expect("the calls give up");
    assert!(answers.iter().all(Result::is_err), "{answers:?}");
    tokio::time::timeout(std::time::Duration::from_secs(10), closed.recv())
        .await
        .expect("the abandoned request's connection is closed");
}

// For a provider that refuses batches, `rpc_batch = 1` sends every call on its own.
#[tokio::test(flavor = "current_thread")]
async fn with_batches_of_one_every_call_is_a_plain_request() {
    let (_anvil, url, log) = anvil_behind_log().await;
    let chain = Chain::connect_batching(&url.parse().unwrap(), 1);
    let answers = join_all([1, 2, 3].map(|n| chain.calls.call(returning(Some(n))))).await;
    for (n, answer) in [1, 2, 3].iter().zip(&answers) {
        assert_eq!(answer.as_ref().unwrap()[31], *n);
    }
    assert_eq!(log.requests(), vec![vec!["eth_call"]; 3]);
}
