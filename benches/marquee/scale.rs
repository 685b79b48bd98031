//! scale: sign-ins and warm joins per second with one `marquee serve` node and with two on
//! one PostgreSQL database (the load spread over both), and one node on SQLite, on the same
//! machine and chain. The PostgreSQL server is `MARQUEE_BENCH_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); each setup gets a database of its own there,
//! dropped afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use rand_core::RngCore;
use serde_json::json;
use sqlx::Connection;

use super::{CLIENTS, Chain, Load, MEASURE, Measured, Server, measure, session, start_server_with};

/// What one setup of nodes managed.
struct Figures {
    sign_ins: Measured,
    joins: Measured,
    /// With two nodes: how long each of a series of logouts on one node took to be refused by
    /// the other, ms, ascending.
    logout_reach_ms: Option<Vec<f64>>,
}

pub(super) async fn scale() {
    println!("== scale");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let chain = Chain::start().await;
    let viewers: Vec<PrivateKeySigner> = (0..CLIENTS).map(|_| PrivateKeySigner::random()).collect();
    let addresses: Vec<_> = viewers.iter().map(|v| v.address()).collect();
    chain.fund(&addresses, U256::from(1_000)).await;
    let env = chain.server_env(&root.join("media"));
    let server = std::env::var("MARQUEE_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());

    let sqlite = run(&chain, &viewers, &env, None, 1).await;
    report("SQLite, one node", &sqlite, None);
    let Ok(pg_one) = Postgres::create(&server).await else {
        println!(
            "PostgreSQL at {server} does not answer: its rows are left out (set MARQUEE_BENCH_POSTGRES)"
        );
        return;
    };
    let one = run(&chain, &viewers, &env, Some(&pg_one.url), 1).await;
    pg_one.drop().await;
    report("PostgreSQL, one node", &one, Some(("SQLite", &sqlite)));
    let pg_two = Postgres::create(&server).await.expect("created before");
    let two = run(&chain, &viewers, &env, Some(&pg_two.url), 2).await;
    pg_two.drop().await;
    report("PostgreSQL, two nodes", &two, Some(("one node", &one)));
    if let Some(ms) = &two.logout_reach_ms {
        println!(
            "  a logout on one node refused by the other after: median {:.0} ms, max {:.0} ms over {} logouts (goal ≤ 1000 ms)",
            ms[ms.len() / 2],
            ms[ms.len() - 1],
            ms.len()
        );
    }
    println!(
        "  (two nodes share {} cores with PostgreSQL, Anvil and the clients: the ratio is what a second node adds when cores are not the limit)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}

/// Starts `nodes` nodes on `database` (fresh SQLite when none), creates a gated event, and
/// measures sign-ins, then warm joins, from [`CLIENTS`] clients spread over the nodes.
async fn run(
    chain: &Chain,
    viewers: &[PrivateKeySigner],
    env: &[(&'static str, String)],
    database: Option<&str>,
    nodes: usize,
) -> Figures {
    let mut env = env.to_vec();
    env.push(("RUST_LOG", "error".into()));
    if let Some(url) = database {
        env.push(("MARQUEE_DATABASE_URL", url.to_string()));
    }
    let first = start_server_with(&env).await;
    env.push(("MARQUEE_PUBLIC_URL", first.url.clone()));
    let mut servers = vec![first];
    for _ in 1..nodes {
        servers.push(start_server_with(&env).await);
    }
    let (http, organizer) = servers[0].organizer().await;
    let now = time::OffsetDateTime::now_utc();
    let body = json!({
        "title": "Bench", "stream": { "source": "demo" },
        "starts_at": marquee::time_util::rfc3339(now - time::Duration::minutes(1)),
        "ends_at": marquee::time_util::rfc3339(now + time::Duration::hours(1)),
        "gate": { "any": [{ "type": "erc20", "contract": chain.d.erc20.unwrap().to_string(), "min_balance": "1" }] },
    });
    let event = servers[0].create_event(&http, &organizer, &body).await;
    let domain = servers[0].domain();
    let mut sessions = Vec::new();
    for (i, v) in viewers.iter().enumerate() {
        let node = &servers[i % servers.len()];
        sessions.push(session(&http, &node.url, &domain, v).await.unwrap());
    }
    let nodes: Vec<&Server> = servers.iter().collect();
    let sign_ins = measure(&nodes, None, Load::SignIn, MEASURE).await;
    let joins = Load::Join {
        sessions: Arc::new(sessions),
        events: Arc::new(vec![event]),
        cold: false,
    };
    let joins = measure(&nodes, None, joins, MEASURE).await;
    let logout_reach_ms = match nodes[..] {
        [a, b] => Some(logout_reach(a, b, &viewers[0]).await),
        _ => None,
    };
    Figures {
        sign_ins,
        joins,
        logout_reach_ms,
    }
}

/// Signs in on `a`, logs out on `b`, and times until `a` refuses the session; 20 times.
async fn logout_reach(a: &Server, b: &Server, viewer: &PrivateKeySigner) -> Vec<f64> {
    let http = reqwest::Client::new();
    let domain = a.domain();
    let mut reach = Vec::new();
    for _ in 0..20 {
        let token = session(&http, &a.url, &domain, viewer).await.unwrap();
        let me = || {
            http.get(format!("{}/api/v1/me", a.url))
                .bearer_auth(&token)
                .send()
        };
        assert_eq!(me().await.unwrap().status(), 200);
        let out = http
            .post(format!("{}/api/v1/auth/logout", b.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status(), 204);
        let t = Instant::now();
        while me().await.unwrap().status() != 401 {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the logout never arrived"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        reach.push(t.elapsed().as_secs_f64() * 1e3);
    }
    reach.sort_by(f64::total_cmp);
    reach
}

fn report(setup: &str, f: &Figures, against: Option<(&str, &Figures)>) {
    let ratio = |pick: fn(&Figures) -> f64| {
        against.map_or(String::new(), |(name, base)| {
            format!("   ratio {:.2} against {name}", pick(f) / pick(base))
        })
    };
    println!(
        "{setup:<24} sign-ins {:8.0} /s  (CPU {:6.1} µs, failures {}){}",
        f.sign_ins.per_second,
        f.sign_ins.cpu_us,
        f.sign_ins.failed,
        ratio(|f| f.sign_ins.per_second)
    );
    println!(
        "{:<24} warm joins {:6.0} /s  (CPU {:6.1} µs, failures {}){}",
        "",
        f.joins.per_second,
        f.joins.cpu_us,
        f.joins.failed,
        ratio(|f| f.joins.per_second)
    );
}

/// A database of its own on a PostgreSQL server.
struct Postgres {
    server: String,
    name: String,
    url: String,
}

impl Postgres {
    async fn create(server: &str) -> Result<Self, sqlx::Error> {
        let name = format!("marquee_bench_{:016x}", rand_core::OsRng.next_u64());
        let mut admin = sqlx::PgConnection::connect(server).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        let mut url = url::Url::parse(server).map_err(|e| sqlx::Error::Configuration(e.into()))?;
        url.set_path(&name);
        Ok(Self {
            server: server.to_string(),
            name,
            url: url.to_string(),
        })
    }

    async fn drop(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.server).await {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(&drop).execute(&mut admin).await;
        }
    }
}
