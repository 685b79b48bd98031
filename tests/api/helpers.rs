//! Test fixture: a fresh Anvil with the contracts deployed, and the real app on a random port
//! with its own SQLite database, driven over HTTP by wallets that sign with alloy.

use std::path::PathBuf;
use std::time::Duration;

use alloy::network::Ethereum;
use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use alloy::providers::PendingTransactionBuilder;
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::Signer;
use alloy::signers::local::PrivateKeySigner;
use marquee::chain::anvil::{Anvil, DEV_KEYS};
use marquee::chain::deploy::{self, Deployment};
use marquee::config::SettingsArgs;
pub use marquee::time_util::rfc3339;
use reqwest::{Client, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::net::TcpListener;

pub use crate::rpc_log::RpcLog;

pub struct TestApp {
    pub url: String,
    pub domain: String,
    pub http: Client,
    pub anvil: Anvil,
    pub contracts: Deployment,
    /// Signs as the organizer/minter (DEV_KEYS[0]).
    pub admin: DynProvider,
    /// The app's own SQLite database.
    pub database_url: String,
    /// What the app sent to the chain.
    pub rpc: RpcLog,
    _dir: tempfile::TempDir,
}

pub fn wallet(i: usize) -> PrivateKeySigner {
    DEV_KEYS[i].parse().unwrap()
}

/// A fresh wallet that holds nothing.
pub fn stranger() -> PrivateKeySigner {
    PrivateKeySigner::random()
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with settings adjusted by `adjust` (sign-in rate limits are lifted by
/// default so that tests can sign in many times from 127.0.0.1).
pub async fn spawn_app_with(adjust: impl FnOnce(&mut SettingsArgs)) -> TestApp {
    let anvil = Anvil::spawn(&root().join("anvil"), free_port(), &["--silent"])
        .await
        .expect("anvil starts");
    let (admin, admin_addr) = deploy::signing_provider(&anvil.url, DEV_KEYS[0]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let contracts = deploy::deploy(&admin, admin_addr, &format!("{url}/api/v1/poap/"), true)
        .await
        .expect("deploy");
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("marquee.db").display());
    let (rpc_url, rpc) = RpcLog::start(anvil.url.to_string()).await;
    let mut args = SettingsArgs {
        listen: Some(([127, 0, 0, 1], port).into()),
        public_url: Some(url.clone()),
        database_url: Some(database_url.clone()),
        rpc_url: Some(rpc_url),
        chain_id: Some(31337),
        minter_key: Some(DEV_KEYS[0].into()),
        poap_contract: Some(contracts.poap),
        multicall3: Some(contracts.multicall3),
        organizers: Some(admin_addr.to_string()),
        media_root: Some(root().join("media")),
        auth_rate_per_ip: Some(100_000),
        ..Default::default()
    };
    adjust(&mut args);
    let settings = args.resolve().unwrap();
    let state = marquee::app::build(settings).await.expect("app builds");
    tokio::spawn(marquee::app::serve(listener, state));
    TestApp {
        domain: format!("127.0.0.1:{port}"),
        url,
        http: Client::new(),
        anvil,
        contracts,
        admin,
        database_url,
        rpc,
        _dir: dir,
    }
}

/// Waits for a sent transaction's receipt and asserts it succeeded.
pub async fn mined(
    sent: Result<PendingTransactionBuilder<Ethereum>, alloy::contract::Error>,
) -> TransactionReceipt {
    let receipt = sent.unwrap().get_receipt().await.unwrap();
    assert!(receipt.status(), "transaction reverted");
    receipt
}

/// The EIP-4361 text a wallet would be asked to sign.
pub fn siwe_message(
    domain: &str,
    uri: &str,
    address: Address,
    chain_id: u64,
    nonce: &str,
    extra: &str,
) -> String {
    let issued = rfc3339(OffsetDateTime::now_utc());
    format!(
        "{domain} wants you to sign in with your Ethereum account:\n{address}\n\nSign in to watch.\n\nURI: {uri}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\nIssued At: {issued}{extra}"
    )
}

pub async fn sign(wallet: &PrivateKeySigner, message: &str) -> String {
    wallet
        .sign_message(message.as_bytes())
        .await
        .unwrap()
        .to_string()
}

impl TestApp {
    pub async fn nonce(&self) -> String {
        let r = self.post("/api/v1/auth/nonce", None, json!({})).await;
        assert_eq!(r.status(), 201);
        r.json::<Value>().await.unwrap()["nonce"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A fresh EIP-4361 message for `address` to sign in to this app, with a nonce it issued.
    pub async fn siwe(&self, address: Address) -> String {
        siwe_message(
            &self.domain,
            &self.url,
            address,
            31337,
            &self.nonce().await,
            "",
        )
    }

    pub async fn login_with(&self, message: &str, signature: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "message": message, "signature": signature }),
        )
        .await
    }

    /// Signs in as `wallet` and returns the session token.
    pub async fn login(&self, wallet: &PrivateKeySigner) -> String {
        let msg = self.siwe(wallet.address()).await;
        let r = self.login_with(&msg, &sign(wallet, &msg).await).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Response {
        self.send(reqwest::Method::POST, path, bearer, Some(body))
            .await
    }

    /// Any request, with a JSON body if given.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Response {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `POST /api/v1/events/{id}/join` with a session token.
    pub async fn join(&self, id: &str, session: &str) -> Response {
        self.post(
            &format!("/api/v1/events/{id}/join"),
            Some(session),
            json!({}),
        )
        .await
    }

    /// `POST /api/v1/events/{id}/claim` with a session token.
    pub async fn claim(&self, id: &str, session: &str) -> Response {
        self.post(
            &format!("/api/v1/events/{id}/claim"),
            Some(session),
            json!({}),
        )
        .await
    }

    /// Creates an event as the organizer; `gate` and `poap` as given, the demo media.
    pub async fn create_event(
        &self,
        starts: OffsetDateTime,
        ends: OffsetDateTime,
        gate: Value,
        poap: Value,
    ) -> Value {
        let token = self.login(&wallet(0)).await;
        let body = json!({
            "title": "Test screening", "starts_at": rfc3339(starts), "ends_at": rfc3339(ends),
            "stream": { "source": "demo" }, "gate": gate, "poap": poap,
        });
        let r = self.post("/api/v1/events", Some(&token), body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// Creates an event behind `gate` that is live now (no POAP settings) and returns its id.
    pub async fn live_event(&self, gate: Value) -> String {
        let now = OffsetDateTime::now_utc();
        let e = self
            .create_event(
                now - time::Duration::minutes(1),
                now + time::Duration::hours(1),
                gate,
                json!({}),
            )
            .await;
        e["id"].as_str().unwrap().to_string()
    }

    /// Creates an event behind the pass gate that ended an hour ago, with `poap` settings.
    pub async fn ended_event(&self, poap: Value) -> String {
        let now = OffsetDateTime::now_utc();
        let e = self
            .create_event(
                now - time::Duration::hours(2),
                now - time::Duration::hours(1),
                self.pass_gate(),
                poap,
            )
            .await;
        e["id"].as_str().unwrap().to_string()
    }

    /// Runs the `marquee` binary with `args` (no config file), asserts it succeeded, and
    /// returns what it printed as JSON.
    pub async fn run_cli(&self, args: &[&str]) -> Value {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
            .args(args)
            .env("MARQUEE_CONFIG", "/dev/null")
            .env_remove("MARQUEE_MINTER_KEY")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Mints the next ScreeningPass to `to` and returns its id.
    pub async fn mint_pass(&self, to: Address) -> U256 {
        let pass =
            marquee::chain::bindings::ScreeningPass::new(self.contracts.pass.unwrap(), &self.admin);
        let receipt = mined(pass.mint(to).send().await).await;
        let log = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| {
                l.log_decode::<marquee::chain::bindings::IERC721::Transfer>()
                    .ok()
            })
            .unwrap();
        log.inner.data.tokenId
    }

    pub fn pass_gate(&self) -> Value {
        json!({ "any": [{ "type": "erc721", "contract": self.contracts.pass.unwrap().to_string() }] })
    }
}

/// Asserts a problem+json answer with `status` and `code`, returning its body.
pub async fn assert_problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status, "status");
    let ct = r
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(ct, "application/problem+json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    body
}

/// Polls `check` until it yields a value, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
