//! The `marquee` command line: serve, dev, deploy, login.

use std::path::PathBuf;

use alloy::signers::Signer;
use alloy::signers::local::PrivateKeySigner;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::chain::deploy;
use crate::config::SettingsArgs;

/// Token-gated film screenings with Sign-In with Ethereum and attendance POAPs.
#[derive(Debug, Parser)]
#[command(name = "marquee", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(SettingsArgs),
    /// Local all-in-one: Anvil, contracts, demo tickets and event, and the server.
    Dev(DevArgs),
    /// Deploy the contracts and print their addresses as JSON.
    Deploy(DeployArgs),
    /// Sign in to a Marquee service with a private key (EIP-4361) and print the session token.
    Login(LoginArgs),
    /// Manage the token keys in the database.
    Keys {
        /// What to do with them.
        #[command(subcommand)]
        action: KeysAction,
    },
}

/// `marquee keys …`
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Start new session, stream-token and nonce keys; the previous ones keep verifying until
    /// the last token they signed expires. Prints the new key ids as JSON.
    Rotate(SettingsArgs),
}

/// Options of `marquee dev`.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Port of the HTTP server.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Port of Anvil.
    #[arg(long, default_value_t = 8545)]
    pub anvil_port: u16,
    /// Length of the demo screening, in minutes.
    #[arg(long, default_value_t = 3)]
    pub minutes: u32,
    /// The chain toolkit folder (Anvil from npm, and its saved state).
    #[arg(long, default_value = "anvil")]
    pub toolkit: PathBuf,
    /// Also start nginx as the edge that serves the segments (`make run EDGE=1`).
    #[arg(long)]
    pub edge: bool,
    /// Port of the edge nginx.
    #[arg(long, default_value_t = 8081)]
    pub edge_port: u16,
}

/// Options of `marquee deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// Deployer key (default: the minter key); it administers the contracts and may mint.
    #[arg(long, env = "MARQUEE_DEPLOYER_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// Also deploy the demo ticket collections (ScreeningPass, an ERC-20 and an ERC-1155).
    #[arg(long)]
    pub pass: bool,
    /// Settings (RPC URL, public URL for token metadata, minter key).
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Options of `marquee login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The wallet's hex private key.
    #[arg(long, env = "MARQUEE_LOGIN_KEY", hide_env_values = true)]
    pub key: String,
    /// The service's public URL.
    #[arg(long, default_value = "http://localhost:8080")]
    pub url: url::Url,
    /// Chain id to sign in on.
    #[arg(long, default_value_t = 31337)]
    pub chain_id: u64,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve(args) => {
            let settings = args.resolve().map_err(|e| e.to_string())?;
            let listener = TcpListener::bind(settings.listen)
                .await
                .map_err(|e| format!("listen on {}: {e}", settings.listen))?;
            tracing::info!(listen = %settings.listen, public_url = %settings.public_url, "serving");
            let state = crate::app::build(settings)
                .await
                .map_err(|e| e.to_string())?;
            crate::app::serve(listener, state)
                .await
                .map_err(|e| e.to_string())
        }
        Command::Dev(args) => crate::dev::run(args).await,
        Command::Deploy(args) => {
            let settings = args.settings.resolve().map_err(|e| e.to_string())?;
            let key = match (&args.key, &settings.minter_key) {
                (Some(k), _) => k.clone(),
                (None, Some(k)) => k.expose_secret().to_string(),
                (None, None) => {
                    return Err("give the deployer key with --key or MARQUEE_MINTER_KEY".into());
                }
            };
            let (provider, admin) =
                deploy::signing_provider(&settings.rpc_url, &key).map_err(|e| e.to_string())?;
            let base = format!("{}/api/v1/poap/", settings.origin());
            let d = deploy::deploy(&provider, admin, &base, args.pass)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&d).expect("serializable"));
            Ok(())
        }
        Command::Keys {
            action: KeysAction::Rotate(args),
        } => {
            let settings = args.resolve().map_err(|e| e.to_string())?;
            let db = crate::store::connect(&settings.database_url)
                .await
                .map_err(|e| format!("database: {e}"))?;
            let kids = crate::auth::keys::rotate(&db, settings.key_lifetimes())
                .await
                .map_err(|e| e.to_string())?;
            println!("{kids}");
            Ok(())
        }
        Command::Login(args) => {
            let token = login(&args.url, &args.key, args.chain_id).await?;
            println!("{token}");
            Ok(())
        }
    }
}

/// Signs in at `url` with `key` the way a wallet does, returning the session token.
pub async fn login(url: &url::Url, key: &str, chain_id: u64) -> Result<String, String> {
    let signer: PrivateKeySigner = key
        .trim()
        .parse()
        .map_err(|_| "the key is not a hex private key".to_string())?;
    let http = alloy::transports::http::reqwest::Client::new();
    let base = url.as_str().trim_end_matches('/');
    let nonce: Value = post(&http, &format!("{base}/api/v1/auth/nonce"), json!({})).await?;
    let nonce = nonce["nonce"].as_str().ok_or("no nonce in the answer")?;
    let host = url.host_str().ok_or("the URL has no host")?;
    let domain = url
        .port()
        .map_or(host.to_string(), |p| format!("{host}:{p}"));
    let issued_at = crate::time_util::rfc3339(time::OffsetDateTime::now_utc());
    let message = format!(
        "{domain} wants you to sign in with your Ethereum account:\n{}\n\nSign in to Marquee.\n\nURI: {base}\nVersion: 1\nChain ID: {chain_id}\nNonce: {nonce}\nIssued At: {issued_at}",
        signer.address()
    );
    let signature = signer
        .sign_message(message.as_bytes())
        .await
        .map_err(|e| format!("signing failed: {e}"))?;
    let body = json!({ "message": message, "signature": signature.to_string() });
    let session: Value = post(&http, &format!("{base}/api/v1/auth/login"), body).await?;
    session["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("login refused: {session}"))
}

async fn post(
    http: &alloy::transports::http::reqwest::Client,
    url: &str,
    body: Value,
) -> Result<Value, String> {
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let bytes = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not JSON: {e}"))
}
