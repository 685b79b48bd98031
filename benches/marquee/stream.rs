//! stream: the gated stream beside nginx on the same files with the same load generator
//! (wrk): nginx serving them plain, nginx behind its `secure_link` signed-URL check, and
//! Marquee with its stream token, for a 2 KB playlist and a 200 KB segment at 32 and 128
//! connections (nginx secure_link and Marquee in eight alternating rounds, their means shown);
//! then Marquee's memory with 1,000 open viewer connections.

use std::path::Path;
use std::process::{Command, Stdio};

use alloy::primitives::U256;
use alloy::signers::local::PrivateKeySigner;
use marquee::stream::edge::{self, Edge, Nginx, NginxSite, nginx_conf};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Chain, Server, free_port, session, start_server_with};

const SECRET: &str = "bench-edge-secret-0123";
/// Where the edge serves the media root.
const EDGE_PATH: &str = "/media/";
const PERIOD: &str = "8s";
/// Rounds of nginx secure_link and Marquee (an even number: each goes first in half), and how
/// long each of their runs lasts. On a 2-core machine shared with wrk, one round's throughput
/// ratio spreads with a standard deviation of about 0.06; the mean of eight, about 0.02.
const ROUNDS: usize = 8;
const ROUND: &str = "5s";
const ROUND_SECS: f64 = 5.0;

/// One wrk run's figures.
struct Run {
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    mb_per_second: f64,
    /// Responses that were not 2xx (wrk's count) or socket errors.
    bad: u64,
    /// Server CPU time per request, µs (rounds only).
    cpu_us: f64,
}

pub(super) async fn stream() {
    println!("== stream");
    if !installed("wrk") || edge::nginx_binary().is_none() {
        println!("wrk and nginx are needed (make bench installs them): section skipped");
        return;
    }
    let media = tempfile::tempdir().unwrap();
    let folder = media.path().join("bench");
    std::fs::create_dir(&folder).unwrap();
    write_media(&folder);

    let chain = Chain::start().await;
    let erc20 = chain.d.erc20.unwrap();
    let viewer = PrivateKeySigner::random();
    chain.fund(&[viewer.address()], U256::from(1)).await;
    // Marquee's edge: nginx configured by Marquee's own `nginx_conf`, and a Marquee whose
    // playlists point at it, beside a Marquee that serves the segments itself.
    let edge_addr = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let edge_url = format!("http://{edge_addr}{EDGE_PATH}");
    let env = |edge: bool| {
        let mut env = chain.server_env(media.path());
        // The run outlasts the default five minutes.
        env.push(("MARQUEE_STREAM_TOKEN_TTL_SECS", "3600".into()));
        if edge {
            env.push(("MARQUEE_EDGE_URL", edge_url.clone()));
            env.push(("MARQUEE_EDGE_SECRET", SECRET.into()));
        }
        env
    };
    let server = start_server_with(&env(false)).await;
    let token = stream_token(&server, &viewer, &erc20.to_string()).await;
    let edged = start_server_with(&env(true)).await;
    let edge_token = stream_token(&edged, &viewer, &erc20.to_string()).await;
    let work = tempfile::tempdir().unwrap();
    let mut site = NginxSite::new(
        edge_addr,
        media.path().to_path_buf(),
        work.path().to_path_buf(),
        edged.url.clone(),
    );
    site.workers = 2;
    let edge = Edge::new(
        &url::Url::parse(&edge_url).unwrap(),
        SecretString::from(SECRET),
    )
    .unwrap();
    let edge_nginx = Nginx::start(&edge, &site).expect("nginx starts");
    let plain_work = tempfile::tempdir().unwrap();
    let plain = plain_nginx(media.path(), plain_work.path());

    let (id, url) = (&token.0, &server.url);
    let marquee = |file: &str| format!("{url}/stream/{id}/{file}?token={}", token.1);
    let edge_playlist = format!(
        "{}/stream/{}/index.m3u8?token={}",
        edged.url, edge_token.0, edge_token.1
    );
    let text = reqwest::get(&edge_playlist)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let signed_segment = text
        .lines()
        .find(|l| l.starts_with(&edge_url))
        .expect("the edge playlist points at the edge")
        .replace("seg000.ts", "seg.ts");
    // The bench's segment is not in the playlist: sign it as Marquee does, for the same path.
    let expires = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let signed = |file: &str| {
        edge.link("bench/", file, expires)
            .expect("a plain file name")
    };
    assert_eq!(
        signed_segment.split('?').next(),
        signed("seg.ts").split('?').next()
    );
    println!(
        "{:<34} {:>10} {:>9} {:>9} {:>10}",
        "", "req/s", "p50 ms", "p99 ms", "MB/s"
    );
    for (kind, file) in [
        ("2 KB playlist", "index.m3u8"),
        ("200 KB segment", "seg.ts"),
    ] {
        for connections in [32, 128] {
            let plain = wrk(&format!("{}/bench/{file}", plain.url), connections);
            // The machine's speed drifts from run to run (nginx alone moves by a fifth), and
            // whichever of two neighbouring runs goes second tends to gain a few percent, so
            // nginx secure_link and Marquee run in turn, each going first in half the rounds,
            // and the figures shown are their means over the rounds.
            let rounds: Vec<(Run, Run)> = (0..ROUNDS)
                .map(|round| {
                    let secure = || wrk_cpu(&signed(file), connections, edge_nginx.pid());
                    let ours = || wrk_cpu(&marquee(file), connections, server.child.id());
                    if round % 2 == 0 {
                        let first = secure();
                        (first, ours())
                    } else {
                        let first = ours();
                        (secure(), first)
                    }
                })
                .collect();
            let throughputs = per_round(&rounds, |r| r.per_second);
            let (low, high) = interval(&throughputs);
            let (tail_low, tail_high) = interval(&per_round(&rounds, |r| r.p99_ms));
            let (secure, ours) = (
                &mean(rounds.iter().map(|r| &r.0)),
                &mean(rounds.iter().map(|r| &r.1)),
            );
            println!("{kind}, {connections} connections");
            row("  nginx plain", &plain);
            row("  nginx secure_link (Marquee's edge)", secure);
            row("  Marquee (stream token)", ours);
            let is_playlist = file.ends_with(".m3u8");
            if is_playlist {
                row(
                    "  Marquee, playlist of edge links",
                    &wrk(&edge_playlist, connections),
                );
            }
            // The goals are for segments: a playlist is rendered per viewer (a token in
            // every URI) where nginx sends a file, and a player asks for it once a segment.
            let (throughput_goal, p99_goal) = if is_playlist {
                ("", "")
            } else {
                ("goal ≥ 1.0; ", "goal ≤ 1.5; ")
            };
            println!(
                "  Marquee / nginx secure_link: throughput {:.2} ({throughput_goal}95% interval of the round ratios' geometric mean {low:.2}-{high:.2}; rounds {}), p99 {:.2} ({p99_goal}95% interval {tail_low:.2}-{tail_high:.2})",
                ours.per_second / secure.per_second,
                listed(&throughputs),
                ours.p99_ms / secure.p99_ms
            );
            // CPU per request does not move with the machine's speed as throughput does.
            println!(
                "  server CPU per request: nginx secure_link {:.1} µs, Marquee {:.1} µs; ratio {:.2} (rounds {})",
                secure.cpu_us,
                ours.cpu_us,
                ours.cpu_us / secure.cpu_us,
                listed(&per_round(&rounds, |r| r.cpu_us))
            );
        }
    }

    // 1,000 viewers with a connection open each, asking for the playlist now and then.
    let pid = server.child.id();
    let many = wrk_with(&marquee("index.m3u8"), 1000, "5s", Some(200));
    println!(
        "Marquee with 1000 open viewer connections: peak RSS {:.1} MB (goal < 64 MB), {:.0} playlists/s, {} bad",
        peak_rss_kb(pid) as f64 / 1024.0,
        many.per_second,
        many.bad
    );
    drop((edge_nginx, plain));
    drop((server, edged));
    drop(chain);
}

/// A 2 KB media playlist and a 200 KB segment of incompressible bytes.
fn write_media(folder: &Path) {
    let mut playlist = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:0\n",
    );
    let mut i = 0;
    while playlist.len() < 2000 {
        playlist.push_str(&format!("#EXTINF:4.000000,\nseg{i:03}.ts\n"));
        i += 1;
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    std::fs::write(folder.join("index.m3u8"), playlist).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let segment: Vec<u8> = (0..200 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(folder.join("seg.ts"), segment).unwrap();
}

/// An event on `erc20` and a stream token for `viewer`: (event id, token).
async fn stream_token(server: &Server, viewer: &PrivateKeySigner, erc20: &str) -> (String, String) {
    let (http, organizer) = server.organizer().await;
    let domain = server.domain();
    let now = time::OffsetDateTime::now_utc();
    let body = json!({
        "title": "Bench", "stream": { "source": "bench" },
        "starts_at": marquee::time_util::rfc3339(now - time::Duration::minutes(1)),
        "ends_at": marquee::time_util::rfc3339(now + time::Duration::hours(2)),
        "gate": { "any": [{ "type": "erc20", "contract": erc20, "min_balance": "1" }] },
    });
    let id = server.create_event(&http, &organizer, &body).await;
    let viewer_session = session(&http, &server.url, &domain, viewer).await.unwrap();
    let joined = post_json(
        &http,
        &format!("{}/api/v1/events/{id}/join", server.url),
        &viewer_session,
        &json!({}),
    )
    .await;
    let token = joined["stream_token"].as_str().expect("joined").to_string();
    (id, token)
}

async fn post_json(http: &reqwest::Client, url: &str, bearer: &str, body: &Value) -> Value {
    let r = http.post(url).bearer_auth(bearer).json(body).send().await;
    r.unwrap().json().await.unwrap()
}

/// nginx on a free port serving `root` unchecked, the floor of what a file server costs.
fn plain_nginx(root: &Path, work: &Path) -> Nginx {
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut site = NginxSite::new(listen, root.into(), work.into(), String::new());
    site.workers = 2;
    let conf = nginx_conf(&site, &format!("location / {{ root {}; }}", root.display()));
    Nginx::run(&conf, work, listen).expect("nginx starts")
}

fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One round's wrk run, with the CPU time the server (`pid` and its children) spent per request.
fn wrk_cpu(url: &str, connections: u32, pid: u32) -> Run {
    let before = tree_cpu(pid);
    let mut run = wrk_with(url, connections, ROUND, None);
    let requests = run.per_second * ROUND_SECS;
    run.cpu_us = (tree_cpu(pid) - before).as_secs_f64() * 1e6 / requests.max(1.0);
    run
}

/// CPU time of process `pid` and its children (nginx's workers).
fn tree_cpu(pid: u32) -> std::time::Duration {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .map(super::cpu_time)
        .sum::<std::time::Duration>()
        + super::cpu_time(pid)
}

fn wrk(url: &str, connections: u32) -> Run {
    wrk_with(url, connections, PERIOD, None)
}

/// wrk with 2 threads; `pause_ms` paces each connection's requests (ms between them) with a Lua
/// script when given.
fn wrk_with(url: &str, connections: u32, period: &str, pause_ms: Option<u32>) -> Run {
    let script = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", &format!("-c{connections}"), &format!("-d{period}")])
        .args(["--latency", "--timeout", "10s"]);
    if let Some(ms) = pause_ms {
        std::fs::write(script.path(), format!("function delay() return {ms} end\n")).unwrap();
        cmd.arg("-s").arg(script.path());
    }
    let out = cmd.arg(url).output().expect("wrk runs");
    parse_wrk(&String::from_utf8_lossy(&out.stdout))
}

fn parse_wrk(text: &str) -> Run {
    let mut run = Run {
        per_second: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        mb_per_second: 0.0,
        bad: 0,
        cpu_us: 0.0,
    };
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(v)) => run.per_second = v.parse().unwrap_or(0.0),
            (Some("Transfer/sec:"), Some(v)) => run.mb_per_second = megabytes(v),
            (Some("50.000%" | "50%"), Some(v)) => run.p50_ms = millis(v),
            (Some("99.000%" | "99%"), Some(v)) => run.p99_ms = millis(v),
            (Some("Non-2xx"), _) => {
                run.bad += line
                    .rsplit(' ')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            }
            (Some("Socket"), _) => {
                run.bad += line
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    run
}

fn millis(v: &str) -> f64 {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
    let n: f64 = n.parse().unwrap_or(0.0);
    match unit {
        "us" => n / 1000.0,
        "s" => n * 1000.0,
        _ => n,
    }
}

fn megabytes(v: &str) -> f64 {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
    let n: f64 = n.parse().unwrap_or(0.0);
    match unit {
        "B" => n / 1024.0 / 1024.0,
        "KB" => n / 1024.0,
        "GB" => n * 1024.0,
        _ => n,
    }
}

/// Marquee's `figure` over nginx secure_link's, round by round.
fn per_round(rounds: &[(Run, Run)], figure: fn(&Run) -> f64) -> Vec<f64> {
    rounds
        .iter()
        .map(|(secure, ours)| figure(ours) / figure(secure))
        .collect()
}

/// Ratios as the bench prints them, two decimals each.
fn listed(ratios: &[f64]) -> String {
    ratios
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Student's t for ROUNDS - 1 = 7 degrees of freedom, two-sided 95%.
const T_SEVEN: f64 = 2.365;
const _: () = assert!(ROUNDS == 8, "T_SEVEN is for eight rounds");

/// The 95% confidence interval of the mean of `ratios` (one per round): where a run's figure
/// may lie from the servers' true ratio, so a run near 1.0 says whether it is above or below
/// by more than the machine's noise. Taken over the ratios' logarithms, as a ratio is: so the
/// interval never reaches below zero (a tail's round ratios spread from 0.3 to 4), and is the
/// same whichever server is divided by the other.
fn interval(ratios: &[f64]) -> (f64, f64) {
    let logs: Vec<f64> = ratios.iter().map(|r| r.ln()).collect();
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let variance = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = T_SEVEN * (variance / n).sqrt();
    ((mean - half).exp(), (mean + half).exp())
}

/// The mean of `runs`' figures.
fn mean<'a>(runs: impl Iterator<Item = &'a Run>) -> Run {
    let runs: Vec<&Run> = runs.collect();
    let n = runs.len().max(1) as f64;
    let of = |f: fn(&Run) -> f64| runs.iter().map(|r| f(r)).sum::<f64>() / n;
    Run {
        per_second: of(|r| r.per_second),
        p50_ms: of(|r| r.p50_ms),
        p99_ms: of(|r| r.p99_ms),
        mb_per_second: of(|r| r.mb_per_second),
        bad: runs.iter().map(|r| r.bad).sum(),
        cpu_us: of(|r| r.cpu_us),
    }
}

fn row(name: &str, r: &Run) {
    let bad = if r.bad > 0 {
        format!("   ({} bad)", r.bad)
    } else {
        String::new()
    };
    println!(
        "{name:<34} {:>10.0} {:>9.2} {:>9.2} {:>10.1}{bad}",
        r.per_second, r.p50_ms, r.p99_ms, r.mb_per_second
    );
}

/// The process's peak resident memory (VmHWM), kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
