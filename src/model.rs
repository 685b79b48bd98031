//! Events as organizers configure them: parsed and validated once at the edge.

use std::path::{Component, Path};

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use crate::gate::Gate;

/// How long claims stay open after the end when the organizer does not say.
const DEFAULT_CLAIM_WINDOW: time::Duration = time::Duration::days(7);

/// Where a screening's HLS comes from, and how it plays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// A folder under the media root holding `index.m3u8`, or an http(s) playlist URL.
    pub source: String,
    /// Play a VOD source as a scheduled live screening.
    #[serde(default)]
    pub premiere: bool,
    /// Keep it watchable after the end.
    #[serde(default = "yes")]
    pub replay: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

/// What a second live session on the same ticket gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatConflict {
    /// Refused with `ticket_in_use`.
    #[default]
    Reject,
    /// The earlier session is cut.
    Takeover,
}

/// How attendance tokens are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoapMode {
    /// The service mints on chain.
    Mint,
    /// The service signs an EIP-712 voucher.
    Voucher,
    /// Kept in the database only.
    #[default]
    Record,
    /// No attendance token.
    Off,
}

/// The attendance token of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoapSpec {
    /// How the token is given.
    #[serde(default)]
    pub mode: PoapMode,
    /// Watch time needed to be eligible.
    #[serde(default)]
    pub min_watch_seconds: u64,
    /// When claims close (default: a week after the end).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub claim_until: Option<OffsetDateTime>,
    /// Token name (default: the event title).
    #[serde(default)]
    pub name: Option<String>,
    /// Token description.
    #[serde(default)]
    pub description: Option<String>,
    /// Token image.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Most tokens this event gives.
    #[serde(default)]
    pub max_supply: Option<u64>,
    /// Whether tokens cannot be transferred.
    #[serde(default)]
    pub soulbound: bool,
}

impl Default for PoapSpec {
    fn default() -> Self {
        Self {
            mode: PoapMode::Record,
            min_watch_seconds: 0,
            claim_until: None,
            name: None,
            description: None,
            image_url: None,
            max_supply: None,
            soulbound: false,
        }
    }
}

/// Applies a JSON merge patch (RFC 7396) to `target`: objects merge member by member, `null`
/// removes a member, anything else replaces. The RFC's algorithm is this short, so it is written
/// here rather than pulled in with a crate.
pub fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(members) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(fields) = target {
        for (name, value) in members {
            if value.is_null() {
                fields.remove(&name);
            } else {
                merge_patch(fields.entry(name).or_insert(Value::Null), value);
            }
        }
    }
}

/// An event as configured by its organizer (the body of create, the stored form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default)]
    pub description: String,
    /// When viewers may join (default: `starts_at`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub doors_open_at: Option<OffsetDateTime>,
    /// Start of the screening.
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    /// End of the screening.
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// The stream.
    pub stream: StreamSpec,
    /// Who gets in.
    pub gate: Gate,
    /// Live sessions one ticket admits.
    #[serde(default = "one")]
    pub max_sessions_per_ticket: u32,
    /// What a session beyond that gets.
    #[serde(default)]
    pub seat_conflict: SeatConflict,
    /// The attendance token.
    #[serde(default)]
    pub poap: PoapSpec,
}

/// What validation needs to know about the deployment.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities<'a> {
    /// The media root, where folder sources live.
    pub media_root: &'a Path,
    /// Whether the service can mint (POAP contract and minter key configured).
    pub can_mint: bool,
}

impl EventSpec {
    /// Checks what types cannot say and fills defaults; `Err` names the field at fault.
    pub fn normalize(mut self, caps: Capabilities<'_>) -> Result<Self, String> {
        self.title = self.title.trim().to_string();
        if self.title.is_empty() || self.title.chars().count() > 200 {
            return Err("title: must be 1 to 200 characters".into());
        }
        if self.description.chars().count() > 5000 {
            return Err("description: at most 5000 characters".into());
        }
        let utc = |t: OffsetDateTime| t.to_offset(time::UtcOffset::UTC);
        self.starts_at = utc(self.starts_at);
        self.ends_at = utc(self.ends_at);
        let doors = utc(self.doors_open_at.unwrap_or(self.starts_at));
        self.doors_open_at = Some(doors);
        if self.ends_at <= self.starts_at {
            return Err("ends_at: must be after starts_at".into());
        }
        if doors > self.starts_at {
            return Err("doors_open_at: must not be after starts_at".into());
        }
        if self.max_sessions_per_ticket == 0 || self.max_sessions_per_ticket > 100 {
            return Err("max_sessions_per_ticket: must be 1 to 100".into());
        }
        validate_source(&self.stream.source, caps.media_root)?;
        let claim_until = utc(self
            .poap
            .claim_until
            .unwrap_or(self.ends_at + DEFAULT_CLAIM_WINDOW));
        if claim_until <= self.ends_at {
            return Err("poap.claim_until: must be after ends_at".into());
        }
        self.poap.claim_until = Some(claim_until);
        if matches!(self.poap.mode, PoapMode::Mint | PoapMode::Voucher) && !caps.can_mint {
            let mode = if self.poap.mode == PoapMode::Mint {
                "mint"
            } else {
                "voucher"
            };
            return Err(format!(
                "poap.mode: \"{mode}\" needs a POAP contract and a minter key configured"
            ));
        }
        if let Some(url) = &self.poap.image_url
            && url::Url::parse(url).is_err()
        {
            return Err("poap.image_url: must be an absolute URL".into());
        }
        if self.poap.max_supply == Some(0) {
            return Err("poap.max_supply: must be at least 1 (or null)".into());
        }
        Ok(self)
    }

    /// When viewers may join.
    pub fn doors(&self) -> OffsetDateTime {
        self.doors_open_at.unwrap_or(self.starts_at)
    }

    /// When claims close.
    pub fn claim_until(&self) -> OffsetDateTime {
        self.poap
            .claim_until
            .unwrap_or(self.ends_at + DEFAULT_CLAIM_WINDOW)
    }

    /// Whether the stream may be watched at `now`.
    pub fn is_open(&self, now: OffsetDateTime) -> bool {
        now >= self.doors() && (now <= self.ends_at || self.stream.replay)
    }
}

fn validate_source(source: &str, media_root: &Path) -> Result<(), String> {
    if crate::stream::origin::is_origin(source) {
        return match url::Url::parse(source) {
            Ok(u) if u.host().is_some() && u.username().is_empty() && u.password().is_none() => {
                Ok(())
            }
            _ => {
                Err("stream.source: not a usable http(s) URL (a host, no user or password)".into())
            }
        };
    }
    let rel = Path::new(source);
    let safe = !source.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
    if !safe {
        return Err("stream.source: must be a relative folder under the media root (no `..`) or an http(s) URL".into());
    }
    if !media_root.join(rel).join("index.m3u8").is_file() {
        return Err(format!(
            "stream.source: {source}/index.m3u8 does not exist under the media root"
        ));
    }
    Ok(())
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Its id.
    pub id: String,
    /// The organizer who owns it.
    #[serde(serialize_with = "eip55")]
    pub organizer: Address,
    /// Its configuration.
    #[serde(flatten)]
    pub spec: EventSpec,
}

/// Serializes an address EIP-55 checksummed, as the API returns addresses (alloy's serde
/// writes lowercase hex).
pub fn eip55<S: serde::Serializer>(a: &Address, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(a)
}

/// [`eip55`] for optional addresses.
pub fn eip55_opt<S: serde::Serializer>(a: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
    match a {
        Some(a) => s.collect_str(a),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time_util::rfc3339;
    use serde_json::json;

    fn caps(root: &Path) -> Capabilities<'_> {
        Capabilities {
            media_root: root,
            can_mint: false,
        }
    }

    fn spec(v: serde_json::Value) -> EventSpec {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> serde_json::Value {
        json!({
            "title": "Night", "starts_at": "2026-01-01T20:00:00Z", "ends_at": "2026-01-01T22:00:00+01:00",
            "stream": { "source": "demo" },
            "gate": { "any": [{ "type": "erc20", "contract": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "min_balance": "1" }] }
        })
    }

    #[test]
    fn normalizes_times_to_utc_and_fills_defaults() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("media");
        let s = spec(base()).normalize(caps(&root)).unwrap();
        assert_eq!(rfc3339(s.ends_at), "2026-01-01T21:00:00Z");
        assert_eq!(s.doors(), s.starts_at);
        assert_eq!(s.poap.mode, PoapMode::Record);
        assert!(s.stream.replay);
    }

    #[test]
    fn refusals_name_the_field() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("media");
        let mut v = base();
        v["ends_at"] = json!("2026-01-01T19:00:00Z");
        assert!(
            spec(v)
                .normalize(caps(&root))
                .unwrap_err()
                .starts_with("ends_at")
        );
        let mut v = base();
        v["stream"]["source"] = json!("../etc");
        assert!(
            spec(v)
                .normalize(caps(&root))
                .unwrap_err()
                .starts_with("stream.source")
        );
        let mut v = base();
        v["poap"] = json!({ "mode": "mint" });
        assert!(
            spec(v)
                .normalize(caps(&root))
                .unwrap_err()
                .starts_with("poap.mode")
        );
    }
}
