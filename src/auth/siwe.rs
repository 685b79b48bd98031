//! EIP-4361 sign-in messages: parsing by `signinwithethereum`, then the field rules of API.md.
//! Whose signature it is (`auth::signature`) and the nonce's freshness are the caller's steps.

use alloy::primitives::{Address, B256, eip191_hash_message};
use signinwithethereum::Message;
use time::{Duration, OffsetDateTime};
use url::Url;

/// Clock skew tolerated on `issued-at`.
const MAX_SKEW: Duration = Duration::seconds(60);

/// What a login message must match.
#[derive(Debug, Clone, Copy)]
pub struct LoginRules<'a> {
    /// The SIWE domain (host[:port] of the public URL).
    pub domain: &'a str,
    /// The public URL; the message's `uri` must be on its origin.
    pub public_url: &'a Url,
    /// The chain sessions are bound to.
    pub chain_id: u64,
}

/// A message whose fields hold; its signature and nonce are still to be checked.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The account that must have signed.
    pub address: Address,
    /// The EIP-191 hash of the message as received, which the signature must cover.
    pub hash: B256,
    /// The nonce to consume.
    pub nonce: String,
    /// The message's `expiration-time`, which also bounds the session.
    pub expires_at: Option<OffsetDateTime>,
}

/// Why a login is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Not an EIP-4361 message, or an unsupported version.
    #[error("{0}")]
    InvalidMessage(String),
    /// `domain`, `uri` or scheme is not this service's.
    #[error("{0}")]
    DomainMismatch(String),
    /// `chain-id` is not the configured chain.
    #[error("{0}")]
    ChainMismatch(String),
    /// Outside the message's validity window.
    #[error("{0}")]
    Expired(String),
}

/// Parses an EIP-4361 message as the standard writes it. `signinwithethereum` also takes an
/// all-lowercase or all-uppercase address with a warning; EIP-4361 requires EIP-55, so do we.
pub fn parse(text: &str) -> Result<Message, LoginError> {
    let msg: Message = text.parse().map_err(|e| {
        LoginError::InvalidMessage(format!("message: not an EIP-4361 message: {e}"))
    })?;
    // The library flags every uniform-case address, yet about one in 2,000 addresses is
    // uniform-case in its EIP-55 form: refuse only what differs from that form.
    let checksummed = alloy::primitives::Address::from(msg.address).to_checksum(None);
    if msg
        .address_raw
        .as_deref()
        .is_some_and(|raw| raw != &checksummed[2..])
    {
        return Err(LoginError::InvalidMessage(
            "message: the address must be EIP-55 checksummed".into(),
        ));
    }
    if !is_host(msg.domain.host()) {
        return Err(LoginError::InvalidMessage(format!(
            "message: domain {:?} is not a host name or IP address",
            msg.domain.as_str()
        )));
    }
    Ok(msg)
}

/// Whether `host` is an IP literal or a DNS host name (RFC 1123 letters, digits, hyphens):
/// RFC 3986's reg-name admits more (`_`, `~`, `!`…), which no web origin uses; the official
/// vectors refuse such a domain.
fn is_host(host: &str) -> bool {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (host.starts_with('[') && host.ends_with(']'))
        || host.parse::<std::net::Ipv4Addr>().is_ok()
        || (host.len() <= 253 && host.split('.').all(label_ok))
}

/// Checks every rule of EIP-4361 and API.md on the message itself.
pub fn check(
    text: &str,
    rules: LoginRules<'_>,
    now: OffsetDateTime,
) -> Result<Checked, LoginError> {
    let msg = parse(text)?;
    if !msg.domain.as_str().eq_ignore_ascii_case(rules.domain) {
        return Err(LoginError::DomainMismatch(format!(
            "domain {:?} is not {:?}",
            msg.domain.as_str(),
            rules.domain
        )));
    }
    if let Some(scheme) = &msg.scheme
        && scheme != rules.public_url.scheme()
    {
        return Err(LoginError::DomainMismatch(format!(
            "scheme {scheme:?} is not {:?}",
            rules.public_url.scheme()
        )));
    }
    let uri_on_origin = Url::parse(msg.uri.as_str())
        .map(|u| u.origin() == rules.public_url.origin())
        .unwrap_or(false);
    if !uri_on_origin {
        return Err(LoginError::DomainMismatch(format!(
            "uri {:?} is not on {}",
            msg.uri.as_str(),
            rules.public_url.origin().ascii_serialization()
        )));
    }
    if msg.chain_id != rules.chain_id {
        return Err(LoginError::ChainMismatch(format!(
            "chain id {} is not {}",
            msg.chain_id, rules.chain_id
        )));
    }
    let issued_at = *msg.issued_at.as_ref();
    if issued_at > now + MAX_SKEW {
        return Err(LoginError::Expired(format!(
            "issued-at {} is in the future",
            msg.issued_at
        )));
    }
    if let Some(exp) = &msg.expiration_time
        && *exp.as_ref() <= now
    {
        return Err(LoginError::Expired(format!(
            "expiration-time {exp} has passed"
        )));
    }
    if let Some(nbf) = &msg.not_before
        && *nbf.as_ref() > now
    {
        return Err(LoginError::Expired(format!(
            "not-before {nbf} has not come yet"
        )));
    }
    Ok(Checked {
        address: Address::from(msg.address),
        // The wallet signed the exact text it was shown, so the hash is over the text as received.
        hash: eip191_hash_message(text),
        nonce: msg.nonce,
        expires_at: msg.expiration_time.map(|t| *t.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn message(address: &str) -> String {
        format!(
            "example.com wants you to sign in with your Ethereum account:\n{address}\n\nSign in.\n\nURI: https://example.com\nVersion: 1\nChain ID: 1\nNonce: 32891756abc\nIssued At: 2021-09-30T16:25:24Z"
        )
    }

    #[test]
    fn an_address_is_taken_in_its_eip55_form_even_when_that_is_uniform_case() {
        // EIP-55 writes these two as they stand (by `cast to-check-sum-address`).
        for ok in [
            "0x000000000000000000000000000000000000000A",
            "0x000000000000000000000000000000000000000b",
        ] {
            assert!(parse(&message(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "0x000000000000000000000000000000000000000a",
            "0x000000000000000000000000000000000000000B",
        ] {
            assert!(parse(&message(bad)).is_err(), "{bad}");
        }
    }
}
