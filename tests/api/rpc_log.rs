//! A recording proxy between the app and Anvil: it forwards every JSON-RPC request and keeps
//! what the app sent, so tests can count the app's round trips to the chain; it can also
//! answer some requests with a server error, as a failing RPC provider would.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::net::TcpListener;

/// What the app sent to the chain: one entry per HTTP request, with its JSON-RPC methods.
#[derive(Clone, Default)]
pub struct RpcLog {
    requests: Arc<Mutex<Vec<Vec<String>>>>,
    /// Requests of this method to fail, and how many more.
    failing: Arc<Mutex<Option<(String, usize)>>>,
}

impl RpcLog {
    /// Starts the proxy in front of `upstream`; returns its URL and the log.
    pub async fn start(upstream: String) -> (String, RpcLog) {
        let log = RpcLog::default();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state((
            log.clone(),
            upstream,
            reqwest::Client::new(),
        ));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, log)
    }

    /// Forgets what was sent so far.
    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }

    /// Answers the next `count` requests of `method` with 502, without forwarding them.
    pub fn fail_next(&self, method: &str, count: usize) {
        *self.failing.lock().unwrap() = Some((method.to_string(), count));
    }

    /// The HTTP requests sent since the last [`RpcLog::clear`], each as its JSON-RPC methods.
    pub fn requests(&self) -> Vec<Vec<String>> {
        self.requests.lock().unwrap().clone()
    }
}

async fn forward(
    State((log, upstream, http)): State<(RpcLog, String, reqwest::Client)>,
    body: Bytes,
) -> impl IntoResponse {
    let methods = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(batch)) => batch.iter().map(method).collect(),
        Ok(one) => vec![method(&one)],
        Err(_) => vec!["<not JSON>".into()],
    };
    log.requests.lock().unwrap().push(methods.clone());
    if let Some((method, left)) = log.failing.lock().unwrap().as_mut()
        && *left > 0
        && methods.contains(method)
    {
        *left -= 1;
        return (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/plain")],
            Bytes::new(),
        );
    }
    let answer = async {
        let answer = http
            .post(&upstream)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await?;
        Ok::<_, reqwest::Error>((answer.status(), answer.bytes().await?))
    };
    match answer.await {
        Ok((status, bytes)) => (status, [(header::CONTENT_TYPE, "application/json")], bytes),
        // Anvil gone: a test that ended stops it before the app it ran stops calling.
        Err(_) => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/plain")],
            Bytes::new(),
        ),
    }
}

fn method(v: &Value) -> String {
    v["method"].as_str().unwrap_or("<none>").to_string()
}
