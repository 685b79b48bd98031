//! The official EIP-4361 test vectors (tests/vectors/siwe, from spruceid/siwe): parsing
//! positive and negative, and verification positive and negative through Marquee's own rules
//! and signature check, with contract-account fallbacks asked of a real Anvil.

use std::collections::BTreeMap;

use alloy::primitives::Address;
use marquee::auth::signature;
use marquee::auth::siwe::{self, LoginError, LoginRules};
use marquee::chain::Chain;
use marquee::chain::anvil::Anvil;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use url::Url;

use crate::helpers::{free_port, root};

fn vectors(name: &str) -> BTreeMap<String, Value> {
    let path = root().join("tests/vectors/siwe").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn parsing_positive_vectors_parse_to_their_fields() {
    let cases = vectors("parsing_positive.json");
    assert!(cases.len() >= 8);
    for (name, case) in cases {
        let msg = siwe::parse(case["message"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let f = &case["fields"];
        assert_eq!(msg.domain.as_str(), f["domain"], "{name}");
        assert_eq!(
            Address::from(msg.address).to_string(),
            f["address"],
            "{name}"
        );
        assert_eq!(msg.statement.as_deref(), f["statement"].as_str(), "{name}");
        assert_eq!(msg.uri.as_str(), f["uri"], "{name}");
        assert_eq!((msg.version as u64).to_string(), f["version"], "{name}");
        assert_eq!(msg.chain_id.to_string(), f["chainId"], "{name}");
        assert_eq!(msg.nonce, f["nonce"], "{name}");
        assert_eq!(msg.issued_at.to_string(), f["issuedAt"], "{name}");
        let resources: Vec<&str> = msg.resources.iter().map(|r| r.as_str()).collect();
        let expected: Vec<&str> = f["resources"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default();
        assert_eq!(resources, expected, "{name}");
        // A message prints back to the text that was signed.
        assert_eq!(msg.to_string(), case["message"].as_str().unwrap(), "{name}");
    }
}

#[test]
fn parsing_negative_vectors_are_refused() {
    let cases = vectors("parsing_negative.json");
    assert!(cases.len() >= 30);
    for (name, case) in cases {
        let mut text = case.as_str().unwrap().to_string();
        if name == "version not 1" {
            // Upstream's text for this case says "Version: 1" (a valid message: the case's
            // title and its neighbours show the intent); test the intent, and notice if
            // upstream's text is ever fixed.
            assert!(siwe::parse(&text).is_ok(), "upstream fixed the vector");
            text = text.replace("\nVersion: 1\n", "\nVersion: 2\n");
        }
        let r = siwe::parse(&text);
        assert!(
            matches!(r, Err(LoginError::InvalidMessage(_))),
            "{name}: parsed"
        );
    }
}

/// The EIP-4361 text of a verification vector's fields.
fn message_of(f: &Value) -> String {
    let s = |k: &str| f[k].as_str().map(str::to_string);
    let mut text = format!(
        "{} wants you to sign in with your Ethereum account:\n{}\n\n",
        s("domain").unwrap(),
        s("address").unwrap()
    );
    if let Some(statement) = s("statement") {
        text.push_str(&format!("{statement}\n"));
    }
    text.push_str(&format!(
        "\nURI: {}\nVersion: {}\nChain ID: {}\nNonce: {}\nIssued At: {}",
        s("uri").unwrap(),
        s("version").unwrap(),
        f["chainId"],
        s("nonce").unwrap(),
        s("issuedAt").unwrap()
    ));
    for (key, label) in [
        ("expirationTime", "Expiration Time"),
        ("notBefore", "Not Before"),
        ("requestId", "Request ID"),
    ] {
        if let Some(v) = s(key) {
            text.push_str(&format!("\n{label}: {v}"));
        }
    }
    if let Some(resources) = f["resources"].as_array() {
        text.push_str("\nResources:");
        for r in resources {
            text.push_str(&format!("\n- {}", r.as_str().unwrap()));
        }
    }
    text
}

/// Verifies a vector the way `POST /auth/login` does; the nonce store is stood in for by the
/// vector's `matchNonce`, which is what a vector can say about nonces.
async fn verify(chain: &Chain, f: &Value) -> Result<(), String> {
    let text = message_of(f);
    let uri = Url::parse(f["uri"].as_str().unwrap()).unwrap();
    let domain = f["domainBinding"]
        .as_str()
        .or(f["domain"].as_str())
        .unwrap();
    let now = f["time"]
        .as_str()
        .map_or_else(OffsetDateTime::now_utc, |t| {
            OffsetDateTime::parse(t, &Rfc3339).unwrap()
        });
    let rules = LoginRules {
        domain,
        public_url: &uri,
        chain_id: f["chainId"].as_u64().unwrap(),
    };
    let checked = siwe::check(&text, rules, now).map_err(|e| format!("{e:?}"))?;
    if let Some(n) = f["matchNonce"].as_str()
        && n != checked.nonce
    {
        return Err("nonce".into());
    }
    // As login does, a signature that is not even hex is refused before anything else.
    let sig = alloy::hex::decode(f["signature"].as_str().unwrap()).map_err(|e| e.to_string())?;
    signature::verify(chain, checked.address, checked.hash, &sig)
        .await
        .map_err(|e| format!("{e:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_vectors_pass_and_fail_as_published() {
    let anvil = Anvil::spawn(&root().join("anvil"), free_port(), &["--silent"])
        .await
        .unwrap();
    let chain = Chain::connect(&anvil.url);
    let positive = vectors("verification_positive.json");
    assert!(positive.len() >= 4);
    for (name, f) in &positive {
        let r = verify(&chain, f).await;
        if name == "expired message" {
            // The vector checks expiration at a custom time, 2020, which is before its own
            // 2022 issued-at; API.md adds "issued-at is not in the future", so this one
            // rule refuses it, and nothing else does.
            assert!(
                r.as_ref().is_err_and(|e| e.contains("in the future")),
                "{name}: {r:?}"
            );
            let mut later = f.clone();
            later["time"] = "2022-01-06T00:00:00Z".into();
            assert!(
                verify(&chain, &later).await.is_err(),
                "{name}: expired by 2022"
            );
            continue;
        }
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let negative = vectors("verification_negative.json");
    assert!(negative.len() >= 7);
    for (name, f) in &negative {
        assert!(verify(&chain, f).await.is_err(), "{name}: accepted");
    }
}
