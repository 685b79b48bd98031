//! `make bench`: Marquee's performance figures, section by section (`cargo bench --bench
//! marquee -- [section…]`). Each figure is printed beside the baseline it is judged against.
//!
//! auth: the cost of one bare signature recovery (libsecp256k1, which Marquee uses, beside
//! pure-Rust k256), token verification costs, and sign-ins per second over HTTP (nonce +
//! login, concurrent clients) against a real `marquee serve` process with SQLite, with that
//! process's CPU time per sign-in.
//!
//! join: joins per second on a fresh Anvil, warm (the viewer's admission already read in this
//! block) and cold (every join a new gate and wallet pair, so every join reads the chain),
//! beside the rate at which Anvil answers the same `eth_call` when asked directly, and the
//! JSON-RPC requests per join, counted by a proxy that stays in the server's path to Anvil
//! (so cold joins pay one extra local hop that the direct figure does not); and the database
//! write that seats a join, in an empty screening and in one with 20,000 viewers.
//!
//! stream: gated playlists and segments beside nginx (plain and `secure_link`) on the same
//! files under the same wrk load, and Marquee's memory with 1,000 open viewer connections.
//!
//! claims: 1,000 wallets claim at once in mint mode: time until recorded, time until minted on
//! Anvil, transactions and gas per attendee, and a single mint's gas, beside POAP's contract.
//!
//! scale: sign-ins and joins per second with one node and two nodes on PostgreSQL, and one
//! node on SQLite.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::primitives::{Signature, eip191_hash_message};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use marquee::auth::keys::KeyRing;
use marquee::auth::tokens::{
    SESSION_AUDIENCE, STREAM_AUDIENCE, SessionClaims, StreamClaims, Tokens,
};
use marquee::chain::anvil::{Anvil, DEV_KEYS};
use marquee::chain::bindings::{DemoToken, IERC20};
use marquee::chain::deploy;
use serde_json::{Value, json};

#[path = "marquee/claims.rs"]
mod claims;
#[path = "marquee/scale.rs"]
mod scale;
#[path = "marquee/seats.rs"]
mod seats;
#[path = "marquee/stream.rs"]
mod stream;

const CLIENTS: usize = 64;
const WARMUP: Duration = Duration::from_secs(2);
const MEASURE: Duration = Duration::from_secs(10);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets` runs this binary without `--bench`: nothing to measure then.
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let sections: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let wants = |s: &str| sections.is_empty() || sections.contains(&s);
    let rt = tokio::runtime::Runtime::new().unwrap();
    if wants("auth") {
        rt.block_on(auth());
    }
    if wants("join") {
        rt.block_on(join());
        rt.block_on(seats::seat_writes());
    }
    if wants("stream") {
        rt.block_on(stream::stream());
    }
    if wants("claims") {
        rt.block_on(claims::claims());
    }
    if wants("scale") {
        rt.block_on(scale::scale());
    }
}

/// Mean time of `f` over `n` runs, in µs.
fn time_us(n: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

async fn auth() {
    println!("== auth");
    let key = PrivateKeySigner::random();
    let hash = eip191_hash_message(b"example.com wants you to sign in with your Ethereum account");
    let sig: Signature = key.sign_hash_sync(&hash).unwrap();
    let fast = time_us(20_000, || {
        black_box(
            black_box(&sig)
                .recover_address_from_prehash(black_box(&hash))
                .unwrap(),
        );
    });
    let k256_sig = k256::ecdsa::Signature::from_scalars(
        sig.r().to_be_bytes::<32>(),
        sig.s().to_be_bytes::<32>(),
    )
    .unwrap();
    let recid = k256::ecdsa::RecoveryId::new(sig.v(), false);
    let slow = time_us(5_000, || {
        black_box(
            k256::ecdsa::VerifyingKey::recover_from_prehash(
                black_box(hash.as_slice()),
                &k256_sig,
                recid,
            )
            .unwrap(),
        );
    });
    println!("signature recovery, libsecp256k1 (used)   {fast:8.1} µs");
    println!(
        "signature recovery, k256 (baseline)       {slow:8.1} µs   ratio {:.2}",
        fast / slow
    );

    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = marquee::store::connect(&db_url).await.unwrap();
    let tokens = Tokens::new(
        Arc::new(KeyRing::load_or_create(&db).await.unwrap()),
        "http://b".into(),
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let session = |sid: usize| {
        tokens.sign_session(&SessionClaims {
            iss: "http://b".into(),
            aud: SESSION_AUDIENCE.into(),
            sub: key.address().to_string(),
            sid: sid.to_string(),
            iat: now,
            nbf: now,
            exp: now + 3600,
        })
    };
    let stream = |gid: usize| {
        tokens.sign_stream(&StreamClaims {
            iss: "http://b".into(),
            aud: STREAM_AUDIENCE.into(),
            sub: key.address().to_string(),
            sid: "s".into(),
            gid: gid.to_string(),
            evt: "e".into(),
            iat: now,
            nbf: now,
            exp: now + 300,
        })
    };
    // A fresh token each time (a node meets a token for the first time), then the same again.
    let first_and_again = |sign: &dyn Fn(usize) -> String, verify: &dyn Fn(&str) -> bool| {
        let fresh: Vec<String> = (0..10_000).map(sign).collect();
        let mut next = fresh.iter().cycle();
        let first = time_us(9_000, || assert!(verify(black_box(next.next().unwrap()))));
        let remembered = sign(0);
        let again = time_us(100_000, || assert!(verify(black_box(&remembered))));
        (first, again)
    };
    let signing = time_us(5_000, || {
        black_box(session(black_box(1)));
    });
    let (eddsa, again) = first_and_again(&session, &|t| tokens.verify_session(t).is_some());
    let (hmac, hmac_again) = first_and_again(&stream, &|t| tokens.verify_stream(t).is_some());
    println!("session token signing (EdDSA, required)   {signing:8.1} µs");
    println!("session token verify (EdDSA, baseline)    {eddsa:8.1} µs");
    println!(
        "  the same token again (remembered)       {again:8.1} µs   ratio {:.2}",
        again / eddsa
    );
    println!(
        "stream token verify (HS256, first time)   {hmac:8.1} µs   ratio {:.2}",
        hmac / eddsa
    );
    println!(
        "  the same token again (remembered)       {hmac_again:8.1} µs   (each segment request after the first)"
    );
    drop(db);

    logins_over_http(fast, signing).await;
}

/// A `marquee serve` process on a free port with a fresh SQLite database (or the database
/// its environment names).
struct Server {
    child: std::process::Child,
    /// Where it listens.
    url: String,
    /// The service's public URL: its own, or the first node's when several serve as one.
    public: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The SIWE domain of this server.
    fn domain(&self) -> String {
        self.public.trim_start_matches("http://").to_string()
    }

    /// The organizer (the first dev key) signed in: (client, session token).
    async fn organizer(&self) -> (reqwest::Client, String) {
        let http = reqwest::Client::new();
        let key = DEV_KEYS[0].parse().unwrap();
        let organizer = session(&http, &self.url, &self.domain(), &key)
            .await
            .unwrap();
        (http, organizer)
    }

    /// Creates the event `body` as `organizer` and returns its id.
    async fn create_event(&self, http: &reqwest::Client, organizer: &str, body: &Value) -> String {
        let r = http
            .post(format!("{}/api/v1/events", self.url))
            .bearer_auth(organizer)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let e: Value = r.json().await.unwrap();
        e["id"].as_str().unwrap().to_string()
    }
}

async fn start_server() -> Server {
    // Ordinary accounts never touch the chain; the chain follower's complaints that there is
    // none would only clutter the figures.
    start_server_with(&[
        ("MARQUEE_RPC_URL", "http://127.0.0.1:9".into()),
        ("RUST_LOG", "error".into()),
    ])
    .await
}

/// A `marquee serve` process with fresh SQLite, rate limits lifted, and `env` on top (which
/// may name another database and public URL).
async fn start_server_with(env: &[(&str, String)]) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_marquee"))
        .arg("serve")
        .env("MARQUEE_CONFIG", "/dev/null")
        .env("MARQUEE_LISTEN", format!("127.0.0.1:{port}"))
        .env("MARQUEE_PUBLIC_URL", &url)
        .env(
            "MARQUEE_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("m.db").display()),
        )
        // One client machine must not be throttled.
        .env("MARQUEE_AUTH_RATE_PER_IP", "1000000")
        .env("MARQUEE_AUTH_RATE_GLOBAL", "1000000")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let wait_for = if env.iter().any(|(k, _)| *k == "MARQUEE_MULTICALL3") {
        "readyz"
    } else {
        "healthz"
    };
    while !matches!(http.get(format!("{url}/{wait_for}")).send().await, Ok(r) if r.status() == 200)
    {
        assert!(Instant::now() < deadline, "marquee serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let public = env
        .iter()
        .find(|(k, _)| *k == "MARQUEE_PUBLIC_URL")
        .map_or_else(|| url.clone(), |(_, v)| v.clone());
    Server {
        child,
        url,
        public,
        _dir: dir,
    }
}

/// CPU time (user + system) the process has used so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    let ticks = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .unwrap();
    let hz: u64 = String::from_utf8_lossy(&ticks.stdout)
        .trim()
        .parse()
        .unwrap();
    Duration::from_secs_f64((f[0] + f[1]) as f64 / hz as f64)
}

async fn sign_in(http: &reqwest::Client, url: &str, domain: &str, key: &PrivateKeySigner) -> bool {
    session(http, url, domain, key).await.is_some()
}

/// Signs in as `key` at `url` (a node of the service whose SIWE domain is `domain`) and
/// returns the session token.
async fn session(
    http: &reqwest::Client,
    url: &str,
    domain: &str,
    key: &PrivateKeySigner,
) -> Option<String> {
    let r = http
        .post(format!("{url}/api/v1/auth/nonce"))
        .send()
        .await
        .map_err(|e| eprintln!("nonce: {e:?}"))
        .ok()?;
    let n = r
        .json::<Value>()
        .await
        .map_err(|e| eprintln!("nonce body: {e:?}"))
        .ok()?;
    let message = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{}\n\nSign in to watch.\n\nURI: http://{domain}\nVersion: 1\nChain ID: 31337\nNonce: {}\nIssued At: {}",
        key.address(),
        n["nonce"].as_str().unwrap_or_default(),
        marquee::time_util::rfc3339(time::OffsetDateTime::now_utc()),
    );
    let sig = key.sign_message_sync(message.as_bytes()).unwrap();
    let body = json!({ "message": message, "signature": sig.to_string() });
    let r = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&body)
        .send()
        .await
        .ok()?;
    let answer: Value = r.json().await.ok()?;
    answer["token"].as_str().map(str::to_string)
}

/// What each client does over and over.
#[derive(Clone)]
enum Load {
    /// Asks for a nonce only.
    Nonce,
    /// Asks `GET /healthz`: an HTTP exchange with nothing behind it.
    Health,
    /// Signs in: nonce, then login.
    SignIn,
    /// Client `i` joins with session `sessions[i]`: event 0 every time (warm), or the next
    /// event each time (cold).
    Join {
        sessions: Arc<Vec<String>>,
        events: Arc<Vec<String>>,
        cold: bool,
    },
    /// Posts this JSON-RPC request to this URL.
    Rpc { url: String, body: Arc<Value> },
}

/// What [`measure`] saw.
struct Measured {
    /// Operations per second.
    per_second: f64,
    /// The server's CPU time per operation, µs.
    cpu_us: f64,
    /// Anvil's CPU time per operation, µs (0 without Anvil).
    anvil_cpu_us: f64,
    /// Operations that failed.
    failed: u64,
}

/// Runs `load` from [`CLIENTS`] concurrent clients spread over the nodes `servers` (and
/// `anvil`, whose CPU time is counted too, as the nodes' is).
async fn measure(
    servers: &[&Server],
    anvil: Option<u32>,
    load: Load,
    period: Duration,
) -> Measured {
    let domain = servers[0].domain();
    let server_cpu = || {
        servers
            .iter()
            .map(|s| cpu_time(s.child.id()))
            .sum::<Duration>()
    };
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for client in 0..CLIENTS {
        let url = servers[client % servers.len()].url.clone();
        let (domain, load) = (domain.clone(), load.clone());
        let (done, failed, stop) = (done.clone(), failed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let key = PrivateKeySigner::random();
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                let ok = match &load {
                    Load::SignIn => sign_in(&http, &url, &domain, &key).await,
                    Load::Nonce => matches!(
                        http.post(format!("{url}/api/v1/auth/nonce")).send().await,
                        Ok(r) if r.status() == 201
                    ),
                    Load::Health => matches!(
                        http.get(format!("{url}/healthz")).send().await,
                        Ok(r) if r.status() == 200
                    ),
                    Load::Join {
                        sessions,
                        events,
                        cold,
                    } => {
                        let event = if *cold {
                            &events[round % events.len()]
                        } else {
                            &events[0]
                        };
                        round += 1;
                        matches!(
                            http.post(format!("{url}/api/v1/events/{event}/join"))
                                .bearer_auth(&sessions[client])
                                .send()
                                .await,
                            Ok(r) if r.status() == 200
                        )
                    }
                    Load::Rpc { url, body } => matches!(
                        http.post(url).json(body.as_ref()).send().await,
                        Ok(r) if r.status() == 200
                    ),
                };
                let counter = if ok { &done } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(WARMUP).await;
    let anvil_cpu = || anvil.map(cpu_time).unwrap_or_default();
    let (n0, cpu0, anvil0, t0) = (
        done.load(Ordering::Relaxed),
        server_cpu(),
        anvil_cpu(),
        Instant::now(),
    );
    tokio::time::sleep(period).await;
    let (n1, cpu1, anvil1, elapsed) = (
        done.load(Ordering::Relaxed),
        server_cpu(),
        anvil_cpu(),
        t0.elapsed(),
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let ops = n1 - n0;
    let per_op = |d: Duration| d.as_secs_f64() * 1e6 / ops.max(1) as f64;
    Measured {
        per_second: ops as f64 / elapsed.as_secs_f64(),
        cpu_us: per_op(cpu1 - cpu0),
        anvil_cpu_us: per_op(anvil1 - anvil0),
        failed: failed.load(Ordering::Relaxed),
    }
}

/// Sign-ins per second and their CPU, beside the least a sign-in can cost: one recovery, the
/// session token's signature, and two HTTP exchanges (`/healthz` under the same load).
async fn logins_over_http(recovery_us: f64, signing_us: f64) {
    let server = start_server().await;
    let Measured {
        per_second,
        cpu_us,
        failed: failures,
        ..
    } = measure(&[&server], None, Load::SignIn, MEASURE).await;
    let nonce_us = measure(&[&server], None, Load::Nonce, MEASURE / 2)
        .await
        .cpu_us;
    let exchange_us = measure(&[&server], None, Load::Health, MEASURE / 2)
        .await
        .cpu_us;
    println!(
        "sign-ins over HTTP ({CLIENTS} clients, SQLite)  {per_second:8.0} /s   (goal 3000 /s; failures {failures})"
    );
    println!(
        "server CPU per sign-in (nonce + login)    {cpu_us:8.1} µs   = {:.2} × one recovery (goal ≤ 2)",
        cpu_us / recovery_us
    );
    println!("  of which the nonce request             {nonce_us:8.1} µs");
    println!(
        "  and the login request                  {:8.1} µs   = {:.2} × one recovery",
        cpu_us - nonce_us,
        (cpu_us - nonce_us) / recovery_us
    );
    let floor = recovery_us + signing_us + 2.0 * exchange_us;
    println!("one HTTP exchange (GET /healthz, same load) {exchange_us:6.1} µs");
    println!(
        "floor: recovery + EdDSA signing + 2 exchanges {floor:5.1} µs   = {:.2} × one recovery; sign-in / floor {:.2}",
        floor / recovery_us,
        cpu_us / floor
    );
}

/// Joins per second, warm and cold, beside Anvil's own `eth_call` rate.
async fn join() {
    println!("== join");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let chain = Chain::start().await;
    let Chain { anvil, d, .. } = &chain;
    let erc20 = d.erc20.unwrap();
    let viewers: Vec<PrivateKeySigner> = (0..CLIENTS).map(|_| PrivateKeySigner::random()).collect();
    let addresses: Vec<_> = viewers.iter().map(|v| v.address()).collect();
    chain
        .fund(&addresses, U256::from(10).pow(U256::from(24)))
        .await;
    let (rpc_url, rpc_requests) = counting_proxy(anvil.url.to_string()).await;
    let mut env = chain.server_env(&root.join("media"));
    // The RPC through the counting proxy (set later, so it wins).
    env.push(("MARQUEE_RPC_URL", rpc_url));
    let server = start_server_with(&env).await;
    let (http, organizer) = server.organizer().await;
    let domain = server.domain();
    // Each event's gate differs (its minimum balance), so a wallet's first join of each is cold.
    let now = time::OffsetDateTime::now_utc();
    let mut events = Vec::new();
    for k in 1..=EVENTS {
        let body = json!({
            "title": "Bench", "stream": { "source": "demo" },
            "starts_at": marquee::time_util::rfc3339(now - time::Duration::minutes(1)),
            "ends_at": marquee::time_util::rfc3339(now + time::Duration::hours(1)),
            "gate": { "any": [{ "type": "erc20", "contract": erc20.to_string(), "min_balance": k.to_string() }] },
        });
        events.push(server.create_event(&http, &organizer, &body).await);
    }
    let mut sessions = Vec::new();
    for v in &viewers {
        sessions.push(session(&http, &server.url, &domain, v).await.unwrap());
    }
    let (sessions, events) = (Arc::new(sessions), Arc::new(events));

    rpc_requests.take();
    let load = |cold| Load::Join {
        sessions: sessions.clone(),
        events: events.clone(),
        cold,
    };
    let Measured {
        per_second: warm,
        cpu_us: warm_cpu,
        failed: warm_failed,
        ..
    } = measure(&[&server], None, load(false), MEASURE).await;
    let (warm_rpc, _) = rpc_requests.take();
    let Measured {
        per_second: cold,
        cpu_us: cold_cpu,
        anvil_cpu_us: cold_anvil_cpu,
        failed: cold_failed,
    } = measure(&[&server], anvil.pid(), load(true), COLD_MEASURE).await;
    let (cold_rpc, cold_exchanges) = rpc_requests.take();
    let cold_joins = (CLIENTS * EVENTS) as f64;

    // The same eth_call the gate makes, sent straight to Anvil by the same clients.
    let holder = viewers[0].address();
    let read = IERC20::balanceOfCall { account: holder }
        .abi_encode()
        .into();
    let data = marquee::gate::probe::creation_call(
        d.multicall3,
        d.delegate_registry,
        holder,
        &[(erc20, read)],
        vec![erc20],
    );
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_call",
        "params": [{ "data": data }, "latest"] });
    let load = Load::Rpc {
        url: anvil.url.to_string(),
        body: Arc::new(body),
    };
    let direct = measure(&[&server], anvil.pid(), load, COLD_MEASURE).await;

    println!(
        "joins per second, warm ({CLIENTS} clients)      {warm:8.0} /s   (goal 2000 /s; failures {warm_failed})"
    );
    println!("  server CPU per warm join               {warm_cpu:8.1} µs");
    println!(
        "  RPC requests per warm join             {:8.3}     (the follower's block polls included)",
        warm_rpc as f64 / (warm * (WARMUP + MEASURE).as_secs_f64()).max(1.0)
    );
    println!("joins per second, cold                   {cold:8.0} /s   (failures {cold_failed})");
    println!("  server CPU per cold join               {cold_cpu:8.1} µs");
    println!("  Anvil CPU per cold join                {cold_anvil_cpu:8.1} µs");
    println!(
        "  RPC requests per cold join             {:8.3}",
        cold_rpc as f64 / (cold * (WARMUP + COLD_MEASURE).as_secs_f64()).max(1.0)
    );
    println!(
        "  of them per HTTP request to the RPC    {:8.2}     (concurrent joins' calls share a batch)",
        cold_rpc as f64 / cold_exchanges.max(1) as f64
    );
    println!(
        "Anvil answering that eth_call directly   {:8.0} /s   (baseline for cold joins)",
        direct.per_second
    );
    println!(
        "  Anvil CPU per direct eth_call          {:8.1} µs",
        direct.anvil_cpu_us
    );
    println!(
        "cold joins per second / Anvil's          {:8.2}",
        cold / direct.per_second
    );
    println!(
        "server CPU / Anvil CPU per cold join     {:8.2}     (above 1: Marquee, not Anvil, bounds cold joins on shared cores)",
        cold_cpu / cold_anvil_cpu.max(f64::MIN_POSITIVE)
    );
    if cold * (WARMUP + COLD_MEASURE).as_secs_f64() > cold_joins {
        println!("  (some cold joins ran out of new events and were warm: raise EVENTS)");
    }
    drop(chain);
}

/// A fresh Anvil with Marquee's contracts and the demo tokens deployed by the first dev key.
struct Chain {
    anvil: Anvil,
    admin: alloy::providers::DynProvider,
    admin_addr: alloy::primitives::Address,
    d: deploy::Deployment,
}

impl Chain {
    /// The settings of a `marquee serve` on this chain, as organizer the admin, with `media`.
    fn server_env(&self, media: &std::path::Path) -> Vec<(&'static str, String)> {
        vec![
            ("MARQUEE_RPC_URL", self.anvil.url.to_string()),
            ("MARQUEE_MULTICALL3", self.d.multicall3.to_string()),
            (
                "MARQUEE_DELEGATE_REGISTRY",
                self.d.delegate_registry.to_string(),
            ),
            ("MARQUEE_ORGANIZERS", self.admin_addr.to_string()),
            ("MARQUEE_MEDIA_ROOT", media.display().to_string()),
        ]
    }

    /// Mints `amount` of the demo ERC-20 to each of `holders`.
    async fn fund(&self, holders: &[alloy::primitives::Address], amount: U256) {
        let token = DemoToken::new(self.d.erc20.expect("demo tokens"), &self.admin);
        for h in holders {
            let sent = token.mint(*h, amount).send().await.unwrap();
            sent.get_receipt().await.unwrap();
        }
    }

    async fn start() -> Chain {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let anvil = Anvil::spawn(&root.join("anvil"), free_port(), &["--silent"])
            .await
            .expect("anvil starts");
        let (admin, admin_addr) = deploy::signing_provider(&anvil.url, DEV_KEYS[0]).unwrap();
        let d = deploy::deploy(&admin, admin_addr, "http://127.0.0.1/poap/", true)
            .await
            .unwrap();
        Chain {
            anvil,
            admin,
            admin_addr,
            d,
        }
    }
}

/// Events created for the join section: every client joins each at most once in the cold run.
const EVENTS: usize = 800;
/// The cold run is shorter, so that new (event, wallet) pairs last.
const COLD_MEASURE: Duration = Duration::from_secs(4);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What went through the counting proxy: JSON-RPC requests (batch members each), HTTP requests.
#[derive(Default)]
struct RpcCount {
    calls: AtomicU64,
    exchanges: AtomicU64,
}

impl RpcCount {
    /// The counts so far, and zero from now on.
    fn take(&self) -> (u64, u64) {
        (
            self.calls.swap(0, Ordering::Relaxed),
            self.exchanges.swap(0, Ordering::Relaxed),
        )
    }
}

/// A proxy in front of `upstream` that counts what is sent through it.
async fn counting_proxy(upstream: String) -> (String, Arc<RpcCount>) {
    let count = Arc::new(RpcCount::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let http = reqwest::Client::new();
    let counter = count.clone();
    let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
        let (http, upstream, counter) = (http.clone(), upstream.clone(), counter.clone());
        async move {
            let n = match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(batch)) => batch.len() as u64,
                _ => 1,
            };
            counter.calls.fetch_add(n, Ordering::Relaxed);
            counter.exchanges.fetch_add(1, Ordering::Relaxed);
            let answer = http
                .post(&upstream)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            match answer {
                Ok(a) => (
                    axum::http::StatusCode::OK,
                    [("content-type", "application/json")],
                    a.bytes().await.unwrap_or_default(),
                ),
                Err(_) => (
                    axum::http::StatusCode::BAD_GATEWAY,
                    [("content-type", "application/json")],
                    axum::body::Bytes::new(),
                ),
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, count)
}
