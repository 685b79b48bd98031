//! Settings: defaults < TOML file < `MARQUEE_*` environment < command-line flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::{Address, address};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::stream::edge::Edge;

/// Multicall3's canonical address, the same on every chain that has it.
pub const CANONICAL_MULTICALL3: Address = address!("cA11bde05977b3631167028862bE2a173976CA11");
/// delegate.xyz v2 registry's canonical address.
pub const CANONICAL_DELEGATE_REGISTRY: Address =
    address!("00000000000000447e69651d841bD8D104Bed493");

/// Settings as given by flags or environment (clap fills both); unset ones fall back to the file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SettingsArgs {
    /// TOML file with settings (default: ./marquee.toml when it exists)
    #[arg(long, env = "MARQUEE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "MARQUEE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Public origin of the service; its host[:port] is the SIWE domain [default: http://localhost:8080]
    #[arg(long, env = "MARQUEE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Database URL [default: sqlite://marquee.db]
    #[arg(long, env = "MARQUEE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Ethereum JSON-RPC URL [default: http://127.0.0.1:8545]
    #[arg(long, env = "MARQUEE_RPC_URL")]
    pub rpc_url: Option<String>,
    /// Chain id that sign-in messages and the RPC must match [default: 31337]
    #[arg(long, env = "MARQUEE_CHAIN_ID")]
    pub chain_id: Option<u64>,
    /// Hex private key of the POAP minter (never logged)
    #[arg(long, env = "MARQUEE_MINTER_KEY", hide_env_values = true)]
    pub minter_key: Option<String>,
    /// Address of the AttendancePOAP contract
    #[arg(long, env = "MARQUEE_POAP_CONTRACT")]
    pub poap_contract: Option<Address>,
    /// Comma-separated organizer addresses
    #[arg(long, env = "MARQUEE_ORGANIZERS")]
    pub organizers: Option<String>,
    /// Folder that holds the screenings' media [default: media]
    #[arg(long, env = "MARQUEE_MEDIA_ROOT")]
    pub media_root: Option<PathBuf>,
    /// Multicall3 address [default: the canonical one]
    #[arg(long, env = "MARQUEE_MULTICALL3")]
    pub multicall3: Option<Address>,
    /// delegate.xyz v2 registry address [default: the canonical one]
    #[arg(long, env = "MARQUEE_DELEGATE_REGISTRY")]
    pub delegate_registry: Option<Address>,
    /// Session token lifetime in seconds [default: 86400]
    #[arg(long, env = "MARQUEE_SESSION_TTL_SECS")]
    pub session_ttl_secs: Option<u64>,
    /// Stream token lifetime in seconds [default: 300]
    #[arg(long, env = "MARQUEE_STREAM_TOKEN_TTL_SECS")]
    pub stream_token_ttl_secs: Option<u64>,
    /// Sign-in nonce lifetime in seconds [default: 300]
    #[arg(long, env = "MARQUEE_NONCE_TTL_SECS")]
    pub nonce_ttl_secs: Option<u64>,
    /// Sign-in requests (nonce and login) per second allowed from one client IP, with bursts
    /// of twice as many [default: 10]
    #[arg(long, env = "MARQUEE_AUTH_RATE_PER_IP")]
    pub auth_rate_per_ip: Option<u32>,
    /// Sign-in requests per second allowed from all clients together [default: 10000]
    #[arg(long, env = "MARQUEE_AUTH_RATE_GLOBAL")]
    pub auth_rate_global: Option<u32>,
    /// How often the chain is asked for new blocks and the transfers in them, in milliseconds
    /// [default: 1000]
    #[arg(long, env = "MARQUEE_CHAIN_POLL_MS")]
    pub chain_poll_ms: Option<u64>,
    /// Most gate reads sent together in one JSON-RPC batch; 1 for a provider that refuses
    /// batches [default: 32]
    #[arg(long, env = "MARQUEE_RPC_BATCH")]
    pub rpc_batch: Option<usize>,
    /// How long a seat stays held after the viewer's last heartbeat, in seconds [default: 45]
    #[arg(long, env = "MARQUEE_SEAT_LEASE_SECS")]
    pub seat_lease_secs: Option<u64>,
    /// How long a mint transaction may wait unmined before it is sent again with higher fees,
    /// in seconds [default: 30]
    #[arg(long, env = "MARQUEE_MINT_BUMP_SECS")]
    pub mint_bump_secs: Option<u64>,
    /// Memory for media files of folder sources, in MiB [default: 32]
    #[arg(long, env = "MARQUEE_MEDIA_CACHE_MB")]
    pub media_cache_mb: Option<u64>,
    /// URL under which an edge (nginx secure_link, or a CDN checking the same way) serves the
    /// media root; playlists then point segments at it, signed [default: none, Marquee serves them]
    #[arg(long, env = "MARQUEE_EDGE_URL")]
    pub edge_url: Option<String>,
    /// Secret shared with the edge that signs its links, at least 16 characters (never logged)
    #[arg(long, env = "MARQUEE_EDGE_SECRET", hide_env_values = true)]
    pub edge_secret: Option<String>,
}

/// The same settings as read from the TOML file (keys are the flag names with `_`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    public_url: Option<String>,
    database_url: Option<String>,
    rpc_url: Option<String>,
    chain_id: Option<u64>,
    minter_key: Option<String>,
    poap_contract: Option<Address>,
    organizers: Option<Vec<Address>>,
    media_root: Option<PathBuf>,
    multicall3: Option<Address>,
    delegate_registry: Option<Address>,
    session_ttl_secs: Option<u64>,
    stream_token_ttl_secs: Option<u64>,
    nonce_ttl_secs: Option<u64>,
    auth_rate_per_ip: Option<u32>,
    auth_rate_global: Option<u32>,
    chain_poll_ms: Option<u64>,
    rpc_batch: Option<usize>,
    seat_lease_secs: Option<u64>,
    mint_bump_secs: Option<u64>,
    media_cache_mb: Option<u64>,
    edge_url: Option<String>,
    edge_secret: Option<String>,
}

/// Resolved settings of one Marquee process.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Public origin, e.g. `https://screenings.example`.
    pub public_url: Url,
    /// The SIWE domain: host[:port] of the public URL.
    pub domain: String,
    /// sqlx database URL.
    pub database_url: String,
    /// JSON-RPC endpoint of the chain.
    pub rpc_url: Url,
    /// Chain id of the chain.
    pub chain_id: u64,
    /// POAP minter's private key.
    pub minter_key: Option<SecretString>,
    /// AttendancePOAP contract.
    pub poap_contract: Option<Address>,
    /// Wallets allowed to create events.
    pub organizers: Vec<Address>,
    /// Folder under which event stream sources live.
    pub media_root: PathBuf,
    /// Multicall3 contract.
    pub multicall3: Address,
    /// delegate.xyz v2 registry.
    pub delegate_registry: Address,
    /// Lifetime of session tokens.
    pub session_ttl: Duration,
    /// Lifetime of stream tokens.
    pub stream_token_ttl: Duration,
    /// Lifetime of sign-in nonces.
    pub nonce_ttl: Duration,
    /// Sign-in requests per second per client IP.
    pub auth_rate_per_ip: u32,
    /// Sign-in requests per second, all clients together.
    pub auth_rate_global: u32,
    /// Interval of the chain follower.
    pub chain_poll: Duration,
    /// Most gate reads in one JSON-RPC batch.
    pub rpc_batch: usize,
    /// How long a seat outlives the last heartbeat.
    pub seat_lease: Duration,
    /// How long a mint transaction waits unmined before its fees are bumped.
    pub mint_bump: Duration,
    /// Bytes of media files of folder sources held in memory.
    pub media_cache_bytes: u64,
    /// The edge that serves segments of folder sources, when one is configured.
    pub edge: Option<Edge>,
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read or parsed.
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
    /// A value is malformed.
    #[error("setting {name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

impl SettingsArgs {
    /// Resolves these flags/environment values over the TOML file and the defaults.
    pub fn resolve(&self) -> Result<Settings, ConfigError> {
        let file = match &self.config {
            Some(path) => read_file(path)?,
            None if Path::new("marquee.toml").exists() => read_file(Path::new("marquee.toml"))?,
            None => FileSettings::default(),
        };
        let public_url = self
            .public_url
            .clone()
            .or(file.public_url)
            .unwrap_or_else(|| "http://localhost:8080".into());
        let public_url = parse_url("public_url", &public_url)?;
        let host = public_url.host_str().ok_or(ConfigError::Invalid {
            name: "public_url",
            reason: "has no host".into(),
        })?;
        let domain = match public_url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let rpc_url = self
            .rpc_url
            .clone()
            .or(file.rpc_url)
            .unwrap_or_else(|| "http://127.0.0.1:8545".into());
        let organizers = match &self.organizers {
            Some(list) => parse_addresses(list)?,
            None => file.organizers.unwrap_or_default(),
        };
        Ok(Settings {
            listen: self
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            domain,
            public_url,
            database_url: self
                .database_url
                .clone()
                .or(file.database_url)
                .unwrap_or_else(|| "sqlite://marquee.db".into()),
            rpc_url: parse_url("rpc_url", &rpc_url)?,
            chain_id: self.chain_id.or(file.chain_id).unwrap_or(31337),
            minter_key: self
                .minter_key
                .clone()
                .or(file.minter_key)
                .map(SecretString::from),
            poap_contract: self.poap_contract.or(file.poap_contract),
            organizers,
            media_root: self
                .media_root
                .clone()
                .or(file.media_root)
                .unwrap_or_else(|| PathBuf::from("media")),
            multicall3: self
                .multicall3
                .or(file.multicall3)
                .unwrap_or(CANONICAL_MULTICALL3),
            delegate_registry: self
                .delegate_registry
                .or(file.delegate_registry)
                .unwrap_or(CANONICAL_DELEGATE_REGISTRY),
            session_ttl: Duration::from_secs(
                self.session_ttl_secs
                    .or(file.session_ttl_secs)
                    .unwrap_or(86_400),
            ),
            stream_token_ttl: Duration::from_secs(
                self.stream_token_ttl_secs
                    .or(file.stream_token_ttl_secs)
                    .unwrap_or(300),
            ),
            nonce_ttl: Duration::from_secs(
                self.nonce_ttl_secs.or(file.nonce_ttl_secs).unwrap_or(300),
            ),
            auth_rate_per_ip: positive(
                "auth_rate_per_ip",
                self.auth_rate_per_ip
                    .or(file.auth_rate_per_ip)
                    .unwrap_or(10),
            )?,
            auth_rate_global: positive(
                "auth_rate_global",
                self.auth_rate_global
                    .or(file.auth_rate_global)
                    .unwrap_or(10_000),
            )?,
            rpc_batch: rpc_batch(
                self.rpc_batch
                    .or(file.rpc_batch)
                    .unwrap_or(crate::chain::batch::MAX_BATCH),
            )?,
            chain_poll: Duration::from_millis(positive(
                "chain_poll_ms",
                self.chain_poll_ms.or(file.chain_poll_ms).unwrap_or(1_000),
            )?),
            seat_lease: Duration::from_secs(positive(
                "seat_lease_secs",
                self.seat_lease_secs.or(file.seat_lease_secs).unwrap_or(45),
            )?),
            mint_bump: Duration::from_secs(positive(
                "mint_bump_secs",
                self.mint_bump_secs.or(file.mint_bump_secs).unwrap_or(30),
            )?),
            media_cache_bytes: self.media_cache_mb.or(file.media_cache_mb).unwrap_or(32) << 20,
            edge: edge(
                self.edge_url.clone().or(file.edge_url),
                self.edge_secret.clone().or(file.edge_secret),
            )?,
        })
    }
}

impl Settings {
    /// Whether `address` may create events.
    pub fn is_organizer(&self, address: Address) -> bool {
        self.organizers.contains(&address)
    }

    /// How long tokens of each purpose live, which is how long a replaced key keeps verifying.
    pub fn key_lifetimes(&self) -> crate::auth::keys::Lifetimes {
        crate::auth::keys::Lifetimes {
            session: self.session_ttl,
            stream: self.stream_token_ttl,
            nonce: self.nonce_ttl,
        }
    }

    /// The public origin without a trailing slash, e.g. `http://localhost:8080`.
    pub fn origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let err = |reason: String| ConfigError::File {
        path: path.display().to_string(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    toml::from_str(&text).map_err(|e| err(e.to_string()))
}

fn parse_url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value).map_err(|e| ConfigError::Invalid {
        name,
        reason: format!("{value:?}: {e}"),
    })?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(ConfigError::Invalid {
            name,
            reason: format!("scheme {other:?} is not http(s)"),
        }),
    }
}

fn edge(url: Option<String>, secret: Option<String>) -> Result<Option<Edge>, ConfigError> {
    let (url, secret) = match (url, secret) {
        (None, None) => return Ok(None),
        (Some(url), Some(secret)) => (url, secret),
        (Some(_), None) => {
            return Err(ConfigError::Invalid {
                name: "edge_secret",
                reason: "is required with edge_url".into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                name: "edge_url",
                reason: "is required with edge_secret".into(),
            });
        }
    };
    let url = parse_url("edge_url", &url)?;
    Edge::new(&url, SecretString::from(secret))
        .map(Some)
        .map_err(|e| ConfigError::Invalid {
            name: e.setting,
            reason: e.reason,
        })
}

/// The JSON-RPC batch size, within what providers accept (Geth's default limit is 1,000).
fn rpc_batch(value: usize) -> Result<usize, ConfigError> {
    if !(1..=1000).contains(&value) {
        return Err(ConfigError::Invalid {
            name: "rpc_batch",
            reason: "must be from 1 to 1000".into(),
        });
    }
    Ok(value)
}

fn positive<T: Default + PartialEq>(name: &'static str, value: T) -> Result<T, ConfigError> {
    if value == T::default() {
        return Err(ConfigError::Invalid {
            name,
            reason: "must be at least 1".into(),
        });
    }
    Ok(value)
}

fn parse_addresses(list: &str) -> Result<Vec<Address>, ConfigError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map_err(|e| ConfigError::Invalid {
                name: "organizers",
                reason: format!("{s:?}: {e}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("marquee-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.toml");
        std::fs::write(
            &file,
            "chain_id = 5\npublic_url = \"https://film.example\"\norganizers = [\"0x70997970c51812dc3a010c7d01b50e0d17dc79c8\"]\n",
        )
        .unwrap();
        let args = SettingsArgs {
            config: Some(file),
            chain_id: Some(7),
            ..Default::default()
        };
        let s = args.resolve().unwrap();
        assert_eq!(s.chain_id, 7, "flag wins over file");
        assert_eq!(s.domain, "film.example", "file wins over default");
        assert_eq!(s.organizers.len(), 1);
        assert_eq!(s.listen.port(), 8080, "default");
        assert_eq!(s.stream_token_ttl, Duration::from_secs(300));
    }

    #[test]
    fn the_rpc_batch_size_is_bounded() {
        let batch = |n: usize| {
            SettingsArgs {
                config: Some("/dev/null".into()),
                rpc_batch: Some(n),
                ..Default::default()
            }
            .resolve()
        };
        assert_eq!(batch(1).unwrap().rpc_batch, 1, "batching off");
        assert_eq!(batch(1000).unwrap().rpc_batch, 1000);
        for n in [0, 1001, usize::MAX] {
            assert!(
                matches!(
                    batch(n),
                    Err(ConfigError::Invalid {
                        name: "rpc_batch",
                        ..
                    })
                ),
                "{n}"
            );
        }
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("marquee-cfg2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("m.toml");
        std::fs::write(&file, "chainid = 5\n").unwrap();
        let args = SettingsArgs {
            config: Some(file),
            ..Default::default()
        };
        assert!(matches!(args.resolve(), Err(ConfigError::File { .. })));
    }

    #[test]
    fn edge_settings_come_together_and_name_the_one_at_fault() {
        let edge = |url: Option<&str>, secret: Option<&str>| {
            SettingsArgs {
                config: Some("/dev/null".into()),
                edge_url: url.map(Into::into),
                edge_secret: secret.map(Into::into),
                ..Default::default()
            }
            .resolve()
        };
        let setting = |r: Result<Settings, ConfigError>| match r {
            Err(ConfigError::Invalid { name, .. }) => name,
            other => panic!("{other:?}"),
        };
        assert!(edge(None, None).unwrap().edge.is_none());
        let s = edge(Some("https://edge.example/media"), Some("0123456789abcdef")).unwrap();
        assert_eq!(s.edge.unwrap().prefix(), "/media/");
        assert_eq!(
            setting(edge(Some("https://edge.example/"), None)),
            "edge_secret"
        );
        assert_eq!(setting(edge(None, Some("0123456789abcdef"))), "edge_url");
        assert_eq!(
            setting(edge(Some("https://e.example/"), Some("short"))),
            "edge_secret"
        );
        assert_eq!(
            setting(edge(Some("ftp://e.example/"), Some("0123456789abcdef"))),
            "edge_url"
        );
        assert_eq!(
            setting(edge(
                Some("https://e.example/a b/"),
                Some("0123456789abcdef")
            )),
            "edge_url"
        );
    }
}
