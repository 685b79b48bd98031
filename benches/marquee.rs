//! `make bench`: Marquee's performance figures, section by section (`cargo bench --bench
//! marquee -- [section…]`). Each figure is printed beside the baseline it is judged against.
//!
//! auth: the cost of one bare signature recovery (libsecp256k1, which Marquee uses, beside
//! pure-Rust k256), token verification costs, and sign-ins per second over HTTP (nonce +
//! login, concurrent clients) against a real `marquee serve` process with SQLite, with that
//! process's CPU time per sign-in.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::{Signature, eip191_hash_message};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use marquee::auth::keys::KeyRing;
use marquee::auth::tokens::{
    SESSION_AUDIENCE, STREAM_AUDIENCE, SessionClaims, StreamClaims, Tokens,
};
use serde_json::{Value, json};

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
    let session = tokens.sign_session(&SessionClaims {
        iss: "http://b".into(),
        aud: SESSION_AUDIENCE.into(),
        sub: key.address().to_string(),
        sid: "s".into(),
        iat: now,
        nbf: now,
        exp: now + 3600,
    });
    let stream = tokens.sign_stream(&StreamClaims {
        iss: "http://b".into(),
        aud: STREAM_AUDIENCE.into(),
        sub: key.address().to_string(),
        sid: "s".into(),
        gid: "g".into(),
        evt: "e".into(),
        iat: now,
        nbf: now,
        exp: now + 300,
    });
    let eddsa = time_us(20_000, || {
        black_box(tokens.verify_session(black_box(&session)).unwrap());
    });
    let hmac = time_us(100_000, || {
        black_box(tokens.verify_stream(black_box(&stream)).unwrap());
    });
    println!("session token verify (EdDSA, baseline)    {eddsa:8.1} µs");
    println!(
        "stream token verify (HS256, per segment)  {hmac:8.1} µs   ratio {:.2}",
        hmac / eddsa
    );
    drop(db);

    logins_over_http(fast).await;
}

/// A `marquee serve` process on a free port with a fresh SQLite database.
struct Server {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_server() -> Server {
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
        // Ordinary accounts never touch the chain; one client machine must not be throttled.
        .env("MARQUEE_RPC_URL", "http://127.0.0.1:9")
        .env("MARQUEE_AUTH_RATE_PER_IP", "1000000")
        .env("MARQUEE_AUTH_RATE_GLOBAL", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(format!("{url}/healthz")).send().await.is_err() {
        assert!(Instant::now() < deadline, "marquee serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        url,
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
    let Ok(r) = http.post(format!("{url}/api/v1/auth/nonce")).send().await else {
        return false;
    };
    let Ok(n) = r.json::<Value>().await else {
        return false;
    };
    let message = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{}\n\nSign in to watch.\n\nURI: {url}\nVersion: 1\nChain ID: 31337\nNonce: {}\nIssued At: {}",
        key.address(),
        n["nonce"].as_str().unwrap_or_default(),
        marquee::time_util::rfc3339(time::OffsetDateTime::now_utc()),
    );
    let sig = key.sign_message_sync(message.as_bytes()).unwrap();
    let body = json!({ "message": message, "signature": sig.to_string() });
    matches!(
        http.post(format!("{url}/api/v1/auth/login")).json(&body).send().await,
        Ok(r) if r.status() == 200
    )
}

/// What each client does over and over.
#[derive(Clone, Copy)]
enum Load {
    /// Asks for a nonce only.
    Nonce,
    /// Signs in: nonce, then login.
    SignIn,
}

/// Runs `load` from [`CLIENTS`] concurrent clients against `server`: operations per second and
/// the server's CPU time per operation, in µs.
async fn measure(server: &Server, load: Load, period: Duration) -> (f64, f64, u64) {
    let url = server.url.clone();
    let domain = url.trim_start_matches("http://").to_string();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let (url, domain) = (url.clone(), domain.clone());
        let (done, failed, stop) = (done.clone(), failed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let key = PrivateKeySigner::random();
            while !stop.load(Ordering::Relaxed) {
                let ok = match load {
                    Load::SignIn => sign_in(&http, &url, &domain, &key).await,
                    Load::Nonce => matches!(
                        http.post(format!("{url}/api/v1/auth/nonce")).send().await,
                        Ok(r) if r.status() == 201
                    ),
                };
                let counter = if ok { &done } else { &failed };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(WARMUP).await;
    let (n0, cpu0, t0) = (
        done.load(Ordering::Relaxed),
        cpu_time(server.child.id()),
        Instant::now(),
    );
    tokio::time::sleep(period).await;
    let (n1, cpu1, elapsed) = (
        done.load(Ordering::Relaxed),
        cpu_time(server.child.id()),
        t0.elapsed(),
    );
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let ops = n1 - n0;
    let per_second = ops as f64 / elapsed.as_secs_f64();
    let cpu_us = (cpu1 - cpu0).as_secs_f64() * 1e6 / ops.max(1) as f64;
    (per_second, cpu_us, failed.load(Ordering::Relaxed))
}

async fn logins_over_http(recovery_us: f64) {
    let server = start_server().await;
    let (per_second, cpu_us, failures) = measure(&server, Load::SignIn, MEASURE).await;
    let (_, nonce_us, _) = measure(&server, Load::Nonce, MEASURE / 2).await;
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
}
