//! Test fixture: a fresh Anvil with the contracts deployed, and the real app on a random port
//! with its own database (SQLite, or PostgreSQL: see `database`), driven over HTTP by wallets
//! that sign with alloy.

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

pub use crate::database::TestDb;
pub use crate::rpc_log::RpcLog;

pub struct TestApp {
    /// Where requests go (the in-process node, or a node started since).
    pub url: String,
    /// The public URL of the service: what SIWE messages name and tokens are issued for.
    pub public_url: String,
    pub domain: String,
    pub http: Client,
    pub anvil: Anvil,
    pub contracts: Deployment,
    /// Signs as the organizer/minter (DEV_KEYS[0]).
    pub admin: DynProvider,
    /// The app's own database (SQLite, or PostgreSQL when the suite runs on it).
    pub database_url: String,
    /// What the app sent to the chain.
    pub rpc: RpcLog,
    /// The app's pool.
    pub pool: marquee::store::Db,
    /// Dropped with the app (PostgreSQL: after the app's own pool).
    pub db: TestDb,
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
    let db = TestDb::new().await;
    let database_url = db.url.clone();
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
        delegate_registry: Some(contracts.delegate_registry),
        organizers: Some(admin_addr.to_string()),
        media_root: Some(root().join("media")),
        auth_rate_per_ip: Some(100_000),
        chain_poll_ms: Some(50),
        ..Default::default()
    };
    adjust(&mut args);
    let settings = args.resolve().unwrap();
    let state = marquee::app::build(settings).await.expect("app builds");
    let pool = state.db.clone();
    tokio::spawn(marquee::app::serve(listener, state));
    let app = TestApp {
        domain: format!("127.0.0.1:{port}"),
        public_url: url.clone(),
        url,
        http: Client::new(),
        anvil,
        contracts,
        admin,
        database_url,
        rpc,
        pool,
        db,
    };
    app.ready().await;
    app
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
    /// Waits until `/readyz` answers 200 (the chain follower has made its first pass) and
    /// returns the block it has followed up to.
    pub async fn ready(&self) -> u64 {
        eventually(Duration::from_secs(20), || async {
            let url = format!("{}/readyz", self.url);
            let r = self.http.get(url).send().await.ok()?;
            if r.status() != 200 {
                return None;
            }
            r.json::<Value>().await.unwrap()["followed_block"].as_u64()
        })
        .await
    }

    /// Mines a block and waits for the chain follower to follow it, in a pass that began after
    /// everything done so far (so a new event's collection is indexed), then forgets what was
    /// sent to the chain: from here until a block is mined, the follower only polls the head.
    pub async fn quiet_rpc(&self) {
        let block = self.mine().await;
        self.followed(block).await;
        self.rpc.clear();
    }

    /// The requests sent to the chain since [`TestApp::quiet_rpc`], less the follower's polls.
    pub fn chain_requests(&self) -> Vec<Vec<String>> {
        let poll = ["eth_blockNumber".to_string()];
        let mut all = self.rpc.requests();
        all.retain(|r| r.as_slice() != poll);
        all
    }

    /// Waits until the chain follower has followed block `block`.
    pub async fn followed(&self, block: u64) {
        eventually(Duration::from_secs(10), || async {
            (self.ready().await >= block).then_some(())
        })
        .await
    }

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
            &self.public_url,
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
        self.create_event_with(starts, ends, gate, poap, json!({}))
            .await
    }

    /// Like [`TestApp::create_event`], with the top-level fields of `extra` added.
    pub async fn create_event_with(
        &self,
        starts: OffsetDateTime,
        ends: OffsetDateTime,
        gate: Value,
        poap: Value,
        extra: Value,
    ) -> Value {
        let token = self.login(&wallet(0)).await;
        let mut body = json!({
            "title": "Test screening", "starts_at": rfc3339(starts), "ends_at": rfc3339(ends),
            "stream": { "source": "demo" }, "gate": gate, "poap": poap,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = self.post("/api/v1/events", Some(&token), body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        r.json().await.unwrap()
    }

    /// Creates an event behind `gate` that is live now (no POAP settings) and returns its id.
    pub async fn live_event(&self, gate: Value) -> String {
        self.live_event_with(gate, json!({})).await
    }

    /// Like [`TestApp::live_event`], with the top-level fields of `extra` (seat settings…).
    pub async fn live_event_with(&self, gate: Value, extra: Value) -> String {
        let now = OffsetDateTime::now_utc();
        let e = self
            .create_event_with(
                now - time::Duration::minutes(1),
                now + time::Duration::hours(1),
                gate,
                json!({}),
                extra,
            )
            .await;
        e["id"].as_str().unwrap().to_string()
    }

    /// Joins `id` and returns the stream token, asserting the join succeeded.
    pub async fn stream_token(&self, id: &str, session: &str) -> String {
        let r = self.join(id, session).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        body["stream_token"].as_str().unwrap().to_string()
    }

    /// The status of a playlist request of `id` with stream token `token`.
    pub async fn playlist(&self, id: &str, token: &str) -> u16 {
        let path = format!("/stream/{id}/index.m3u8?token={token}");
        self.get(&path, None).await.status().as_u16()
    }

    /// The status of a heartbeat to `id` with stream token `token`.
    pub async fn heartbeat(&self, id: &str, token: &str) -> u16 {
        let path = format!("/api/v1/events/{id}/heartbeat");
        let r = self.post(&path, Some(token), json!({})).await;
        r.status().as_u16()
    }

    /// A provider that signs as `wallet(i)`.
    pub fn signer(&self, i: usize) -> DynProvider {
        deploy::signing_provider(&self.anvil.url, DEV_KEYS[i])
            .unwrap()
            .0
    }

    /// Sends pass `token_id` from `wallet(from)` to `to`; returns the block it was mined in.
    pub async fn send_pass(&self, from: usize, to: Address, token_id: U256) -> u64 {
        let signer = self.signer(from);
        let pass =
            marquee::chain::bindings::ScreeningPass::new(self.contracts.pass.unwrap(), &signer);
        let sent = pass
            .transferFrom(wallet(from).address(), to, token_id)
            .send()
            .await;
        mined(sent).await.block_number.unwrap()
    }

    /// Starts a `marquee serve` process on this app's chain with database `database_url`,
    /// listening on `port`; waits until it is ready and points this fixture's requests at it.
    /// The process is killed when the handle is dropped.
    pub async fn start_node(&mut self, database_url: &str, port: u16) -> tokio::process::Child {
        self.start_node_with(database_url, port, &[]).await
    }

    /// Like [`TestApp::start_node`], with more environment variables set.
    pub async fn start_node_with(
        &mut self,
        database_url: &str,
        port: u16,
        env: &[(&str, &str)],
    ) -> tokio::process::Child {
        let public_url = format!("http://127.0.0.1:{port}");
        let child = self.node_command(database_url, port, &public_url, env);
        self.domain = format!("127.0.0.1:{port}");
        self.url = public_url.clone();
        self.public_url = public_url;
        self.ready().await;
        child
    }

    /// Starts another node of this service: a `marquee serve` process on this app's database
    /// and chain, with the same public URL (as behind a load balancer), listening on `port`
    /// (with `env` set). Waits until it is ready; returns it and the URL that reaches it.
    /// Requests still go where they went: set `url` to send them to the new node.
    pub async fn start_peer(
        &self,
        port: u16,
        env: &[(&str, &str)],
    ) -> (tokio::process::Child, String) {
        let child = self.node_command(&self.database_url, port, &self.public_url, env);
        let url = format!("http://127.0.0.1:{port}");
        eventually(Duration::from_secs(20), || async {
            let r = self.http.get(format!("{url}/readyz")).send().await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
        (child, url)
    }

    /// The minter role `/readyz` of the node at `url` reports.
    pub async fn minter_role(&self, url: &str) -> String {
        let r = self.http.get(format!("{url}/readyz")).send().await.unwrap();
        let body: Value = r.json().await.unwrap();
        body["minter"].as_str().unwrap().to_string()
    }

    fn node_command(
        &self,
        database_url: &str,
        port: u16,
        public_url: &str,
        env: &[(&str, &str)],
    ) -> tokio::process::Child {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
            .arg("serve")
            .env("MARQUEE_CONFIG", "/dev/null")
            .env_remove("MARQUEE_MINTER_KEY")
            .env("MARQUEE_LISTEN", format!("127.0.0.1:{port}"))
            .env("MARQUEE_PUBLIC_URL", public_url)
            .env("MARQUEE_DATABASE_URL", database_url)
            .env("MARQUEE_RPC_URL", self.anvil.url.to_string())
            .env("MARQUEE_CHAIN_ID", "31337")
            .env("MARQUEE_MULTICALL3", self.contracts.multicall3.to_string())
            .env(
                "MARQUEE_DELEGATE_REGISTRY",
                self.contracts.delegate_registry.to_string(),
            )
            .env("MARQUEE_ORGANIZERS", wallet(0).address().to_string())
            .env("MARQUEE_MEDIA_ROOT", root().join("media"))
            .env("MARQUEE_CHAIN_POLL_MS", "50")
            .env("MARQUEE_AUTH_RATE_PER_IP", "100000")
            // A peer's own logs, for a failing run: `MARQUEE_TEST_PEER_LOG=marquee=debug`.
            .env(
                "RUST_LOG",
                std::env::var("MARQUEE_TEST_PEER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    /// Waits until the claim of `session`'s wallet at `id` is minted and returns it.
    pub async fn minted_claim(&self, id: &str, session: &str) -> Value {
        eventually(Duration::from_secs(30), || async {
            let c: Value = self
                .get(&format!("/api/v1/events/{id}/claim"), Some(session))
                .await
                .json()
                .await
                .unwrap();
            (c["status"] == "minted").then_some(c)
        })
        .await
    }

    /// Mines an empty block and returns its number.
    pub async fn mine(&self) -> u64 {
        use alloy::providers::Provider;
        let _: Value = self.admin.raw_request("evm_mine".into(), ()).await.unwrap();
        self.admin.get_block_number().await.unwrap()
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

    /// A gate admitting holders of the listed passes (read with `ownerOf`, no logs needed).
    pub fn pass_gate_of(&self, ids: &[U256]) -> Value {
        let ids: Vec<String> = ids.iter().map(U256::to_string).collect();
        json!({ "any": [{ "type": "erc721", "contract": self.contracts.pass.unwrap().to_string(), "token_ids": ids }] })
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
