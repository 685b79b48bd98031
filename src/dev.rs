//! `marquee dev` (= `make run`): Anvil with saved state, the contracts, demo tickets, a demo
//! event that is live now, and the server, with a walkthrough printed for newcomers.

use std::path::Path;

use alloy::primitives::{Address, U256};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use time::{Duration, OffsetDateTime};
use tokio::net::TcpListener;

use crate::chain::anvil::{Anvil, DEV_KEYS};
use crate::chain::bindings::{DemoToken, ScreeningPass};
use crate::chain::deploy::{self, Deployment};
use crate::cli::DevArgs;
use crate::config::SettingsArgs;
use crate::gate::{Condition, Gate, Rule};
use crate::http::AppState;
use crate::model::{Capabilities, Event, EventSpec, PoapMode, PoapSpec, SeatConflict, StreamSpec};
use crate::store;
use crate::stream::edge::{Edge, Nginx, NginxSite};
use crate::time_util::now_ms;

/// Runs the local all-in-one until Ctrl-C.
pub async fn run(args: DevArgs) -> Result<(), String> {
    let state_file = args.toolkit.join("dev-state.json");
    let state_arg = state_file.to_string_lossy().to_string();
    let anvil = Anvil::spawn(
        &args.toolkit,
        args.anvil_port,
        &["--state", &state_arg, "--state-interval", "5", "--silent"],
    )
    .await
    .map_err(|e| format!("could not start Anvil on port {}: {e}", args.anvil_port))?;
    let result = run_with(&args, &anvil).await;
    anvil.stop().await;
    result
}

async fn run_with(args: &DevArgs, anvil: &Anvil) -> Result<(), String> {
    let key = |i: usize| -> PrivateKeySigner { DEV_KEYS[i].parse().expect("dev key") };
    let (admin, viewer1, viewer2, outsider) = (
        key(0).address(),
        key(1).address(),
        key(2).address(),
        key(3).address(),
    );
    let public_url = format!("http://localhost:{}", args.port);
    let (provider, _) =
        deploy::signing_provider(&anvil.url, DEV_KEYS[0]).map_err(|e| e.to_string())?;
    let deployment = ensure_contracts(
        &args.toolkit,
        &provider,
        admin,
        &public_url,
        [viewer1, viewer2],
    )
    .await?;
    let pass = deployment.pass.ok_or("dev deployment lacks the pass")?;

    let edge_url = format!("http://localhost:{}/media/", args.edge_port);
    let settings = SettingsArgs {
        edge_url: args.edge.then(|| edge_url.clone()),
        edge_secret: args.edge.then(crate::auth::random_id),
        listen: Some(([127, 0, 0, 1], args.port).into()),
        public_url: Some(public_url.clone()),
        rpc_url: Some(anvil.url.to_string()),
        chain_id: Some(31337),
        minter_key: Some(DEV_KEYS[0].into()),
        poap_contract: Some(deployment.poap),
        multicall3: Some(deployment.multicall3),
        delegate_registry: Some(deployment.delegate_registry),
        organizers: Some(admin.to_string()),
        ..Default::default()
    }
    .resolve()
    .map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("listen on {}: {e}", settings.listen))?;
    let _edge = match &settings.edge {
        Some(edge) => Some(start_edge(args, edge, &settings.media_root, &public_url)?),
        None => None,
    };
    let state = crate::app::build(settings)
        .await
        .map_err(|e| e.to_string())?;
    let event_id = create_demo_event(&state, admin, pass, args.minutes).await?;
    print_banner(
        &public_url,
        anvil.url.as_ref(),
        &event_id,
        &deployment,
        args.minutes,
        [admin, viewer1, viewer2, outsider],
    );
    if args.edge {
        print_edge(&edge_url);
    }
    crate::app::serve(listener, state)
        .await
        .map_err(|e| e.to_string())
}

/// nginx in front of the media root on the edge port, configured in `<toolkit>/edge`.
fn start_edge(args: &DevArgs, edge: &Edge, media: &Path, origin: &str) -> Result<Nginx, String> {
    let work = std::path::absolute(args.toolkit.join("edge")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let media = std::fs::canonicalize(media).map_err(|e| format!("{}: {e}", media.display()))?;
    let site = NginxSite::new(
        ([127, 0, 0, 1], args.edge_port).into(),
        media,
        work,
        origin.to_string(),
    );
    Nginx::start(edge, &site).map_err(|e| {
        format!(
            "could not start nginx on port {} (make deps installs it): {e}",
            args.edge_port
        )
    })
}

/// Reuses the contracts recorded in `dev.json` when the chain still has them, else deploys
/// them anew and mints demo tickets.
async fn ensure_contracts(
    toolkit: &Path,
    provider: &DynProvider,
    admin: Address,
    public_url: &str,
    viewers: [Address; 2],
) -> Result<Deployment, String> {
    let record = toolkit.join("dev.json");
    if let Ok(text) = std::fs::read_to_string(&record)
        && let Ok(d) = serde_json::from_str::<Deployment>(&text)
        && d.pass.is_some()
        && deploy::is_live(provider, &d).await
    {
        return Ok(d);
    }
    let d = deploy::deploy(provider, admin, &format!("{public_url}/api/v1/poap/"), true)
        .await
        .map_err(|e| e.to_string())?;
    let pass = ScreeningPass::new(d.pass.expect("deployed with pass"), provider);
    let erc20 = DemoToken::new(d.erc20.expect("deployed with demo tokens"), provider);
    for v in viewers {
        let tx = pass.mint(v).send().await.map_err(|e| e.to_string())?;
        tx.get_receipt().await.map_err(|e| e.to_string())?;
        let tx = erc20
            .mint(v, U256::from(10u64).pow(U256::from(20)))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        tx.get_receipt().await.map_err(|e| e.to_string())?;
    }
    std::fs::write(&record, serde_json::to_string_pretty(&d).expect("json"))
        .map_err(|e| e.to_string())?;
    Ok(d)
}

async fn create_demo_event(
    state: &AppState,
    organizer: Address,
    pass: Address,
    minutes: u32,
) -> Result<String, String> {
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let spec = EventSpec {
        title: "Marquee demo screening".into(),
        description: "A 30-second test pattern with a tone, gated by a ScreeningPass.".into(),
        doors_open_at: Some(now),
        starts_at: now,
        ends_at: now + Duration::minutes(minutes.into()),
        stream: StreamSpec {
            source: "demo".into(),
            premiere: false,
            replay: true,
        },
        gate: Gate::Any(vec![Rule::Condition(Condition::Erc721 {
            contract: pass,
            token_ids: None,
        })]),
        max_sessions_per_ticket: 1,
        seat_conflict: SeatConflict::Reject,
        poap: PoapSpec {
            mode: PoapMode::Mint,
            min_watch_seconds: 20,
            claim_until: Some(now + Duration::days(1)),
            name: Some("Marquee demo screening — I was there".into()),
            ..PoapSpec::default()
        },
    };
    // The same rules as an organizer's event: the demo must be one the API would accept.
    let caps = Capabilities {
        media_root: &state.settings.media_root,
        can_mint: state.minter.is_some(),
    };
    let event = Event {
        id: crate::auth::random_id(),
        organizer,
        spec: spec
            .normalize(caps)
            .map_err(|e| format!("demo event: {e}"))?,
    };
    store::events::insert(&state.db, &event, now_ms())
        .await
        .map_err(|e| e.to_string())?;
    Ok(event.id)
}

fn print_edge(edge: &str) {
    println!(
        r#"Edge: nginx at {edge} serves the segments; playlists point at it with signed links.
  SEG=$(curl -s "$URL/stream/$EVENT/index.m3u8?token=$STREAM" | grep -m1 '^http')
  curl -s -o /dev/null -w '%{{http_code}} %{{size_download}} bytes from the edge\n' "$SEG"
  curl -s -o /dev/null -w '%{{http_code}} without the signature\n' "${{SEG%%\?*}}"
"#
    );
}

fn print_banner(
    url: &str,
    rpc: &str,
    event: &str,
    d: &Deployment,
    minutes: u32,
    accounts: [Address; 4],
) {
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.strip_prefix(std::env::current_dir().ok()?)
                .ok()
                .map(|p| p.to_path_buf())
        })
        .map(|p| format!("./{}", p.display()))
        .unwrap_or_else(|| "marquee".into());
    let roles = [
        "organizer + POAP minter",
        "viewer with ticket #1",
        "viewer with ticket #2",
        "viewer without a ticket",
    ];
    let mut keys = String::new();
    for (i, (addr, role)) in accounts.iter().zip(roles).enumerate() {
        keys.push_str(&format!("  {addr}  {}  ({role})\n", DEV_KEYS[i]));
    }
    println!(
        r#"
Marquee is running at {url}  (Anvil at {rpc}, chain 31337)
  AttendancePOAP {poap}   ScreeningPass {pass}
  Demo event {event}: live now for {minutes} minutes; POAP for 20 s watched.

Demo wallets (Anvil's public test keys; never use them on a real chain):
{keys}
Walkthrough (another terminal):
  URL={url}; EVENT={event}
  TOKEN=$({exe} login --url $URL --key {viewer_key})
  curl -s $URL/api/v1/me -H "Authorization: Bearer $TOKEN"; echo
  JOIN=$(curl -s -X POST $URL/api/v1/events/$EVENT/join -H "Authorization: Bearer $TOKEN"); echo "$JOIN"
  STREAM=$(echo "$JOIN" | sed -E 's/.*"stream_token":"([^"]+)".*/\1/')
  curl -s "$URL/stream/$EVENT/index.m3u8?token=$STREAM"
  curl -s -o /dev/null -w '%{{http_code}} %{{content_type}} %{{size_download}} bytes\n' "$URL/stream/$EVENT/seg000.ts?token=$STREAM"
  for i in 1 2 3; do curl -s -X POST "$URL/api/v1/events/$EVENT/heartbeat?token=$STREAM"; echo; sleep 12; done
  # after the screening ends ({minutes} min after start):
  curl -s -X POST $URL/api/v1/events/$EVENT/claim -H "Authorization: Bearer $TOKEN"; echo
  curl -s $URL/api/v1/events/$EVENT/claim -H "Authorization: Bearer $TOKEN"; echo
  anvil/node_modules/.bin/cast call {poap} "balanceOf(address)(uint256)" {viewer} --rpc-url {rpc}
  # a wallet without a ticket is refused:
  T3=$({exe} login --url $URL --key {outsider_key}); curl -s -X POST $URL/api/v1/events/$EVENT/join -H "Authorization: Bearer $T3"; echo

Ctrl-C stops the server and Anvil (its state is kept in anvil/dev-state.json).
"#,
        poap = d.poap,
        pass = d.pass.unwrap_or_default(),
        viewer_key = DEV_KEYS[1],
        viewer = accounts[1],
        outsider_key = DEV_KEYS[3],
    );
}
