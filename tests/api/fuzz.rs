//! Property tests standing in for a fuzzer: no input makes the SIWE parser and checks or the
//! JWT verification panic, none makes the HTTP edge answer 5xx, and nothing but the real
//! thing signs anyone in. `make fuzz` runs them with many more cases
//! (`MARQUEE_FUZZ_CASES`).

use std::sync::Arc;

use alloy::signers::local::PrivateKeySigner;
use marquee::auth::keys::KeyRing;
use marquee::auth::siwe::{self, LoginRules};
use marquee::auth::tokens::{SESSION_AUDIENCE, SessionClaims, Tokens};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;
use time::OffsetDateTime;
use url::Url;

use crate::helpers::*;

/// Cases per property: `MARQUEE_FUZZ_CASES`, else `default`.
fn runner(default: u32) -> TestRunner {
    let cases = std::env::var("MARQUEE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// Byte-level edits of a valid input: (position, replacement byte, 0 replace / 1 insert / 2 delete).
fn edits() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6)
}

fn apply(base: &str, edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    let mut b = base.as_bytes().to_vec();
    for (at, byte, op) in edits {
        if b.is_empty() {
            b.push(*byte);
            continue;
        }
        let i = at.index(b.len());
        match op {
            0 => b[i] = *byte,
            1 => b.insert(i, *byte),
            _ => {
                b.remove(i);
            }
        }
    }
    b
}

#[test]
fn siwe_checks_never_panic_on_any_text() {
    let url = Url::parse("http://127.0.0.1:8080").unwrap();
    let rules = LoginRules {
        domain: "127.0.0.1:8080",
        public_url: &url,
        chain_id: 31337,
    };
    let now = OffsetDateTime::now_utc();
    let w = PrivateKeySigner::random();
    let base = siwe_message(
        "127.0.0.1:8080",
        "http://127.0.0.1:8080/login",
        w.address(),
        31337,
        "0123456789abcdef0123456789abcdef",
        "\nExpiration Time: 2100-01-01T00:00:00Z\nRequest ID: r-1\nResources:\n- https://a.example/x",
    );
    assert!(
        siwe::check(&base, rules, now).is_ok(),
        "the base case passes"
    );

    runner(2_000)
        .run(&any::<String>(), |s| {
            let _ = siwe::check(&s, rules, now);
            Ok(())
        })
        .unwrap();
    runner(2_000)
        .run(&edits(), |e| {
            let text = String::from_utf8_lossy(&apply(&base, &e)).into_owned();
            let _ = siwe::check(&text, rules, now);
            Ok(())
        })
        .unwrap();
    // Lines dropped, repeated or swapped.
    let lines: Vec<&str> = base.split('\n').collect();
    let n = lines.len();
    runner(2_000)
        .run(&prop::collection::vec(0..n, 0..n + 3), |order| {
            let text: Vec<&str> = order.iter().map(|i| lines[*i]).collect();
            let _ = siwe::check(&text.join("\n"), rules, now);
            Ok(())
        })
        .unwrap();
}

#[test]
fn token_verification_never_panics_and_accepts_only_real_tokens() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ring = rt.block_on(async {
        let test_db = crate::database::TestDb::new().await;
        let db = marquee::store::connect(&test_db.url).await.unwrap();
        KeyRing::load_or_create(&db).await.unwrap()
    });
    let tokens = Tokens::new(Arc::new(ring), "http://127.0.0.1:8080".into());
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let claims = SessionClaims {
        iss: "http://127.0.0.1:8080".into(),
        aud: SESSION_AUDIENCE.into(),
        sub: PrivateKeySigner::random().address().to_string(),
        sid: "s1".into(),
        iat: now,
        nbf: now,
        exp: now + 3600,
    };
    let good = tokens.sign_session(&claims);
    assert_eq!(tokens.verify_session(&good).as_deref(), Some(&claims));

    runner(5_000)
        .run(&any::<String>(), |s| {
            prop_assert!(tokens.verify_session(&s).is_none());
            prop_assert!(tokens.verify_stream(&s).is_none());
            Ok(())
        })
        .unwrap();
    runner(5_000)
        .run(&edits(), |e| {
            let t = String::from_utf8_lossy(&apply(&good, &e)).into_owned();
            let _ = tokens.verify_stream(&t);
            // An edit may land in base64 padding bits and change nothing decoded; anything
            // accepted must carry exactly the signed claims.
            if let Some(c) = tokens.verify_session(&t) {
                prop_assert_eq!(&*c, &claims);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_http_edge_answers_odd_credentials_with_4xx() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt.block_on(spawn_app());
    let token = rt.block_on(app.login(&wallet(1)));
    let status = |req: reqwest::RequestBuilder| -> Result<u16, TestCaseError> {
        let r = rt
            .block_on(req.send())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        Ok(r.status().as_u16())
    };
    let printable = "[ -~]{0,300}";
    runner(150)
        .run(&printable, |t| {
            let me = app.http.get(format!("{}/api/v1/me", app.url));
            let s = status(me.header("authorization", format!("Bearer {t}")))?;
            prop_assert_eq!(s, 401);
            let cookie = app.http.get(format!("{}/api/v1/me", app.url));
            let s = status(cookie.header("cookie", format!("marquee_session={t}")))?;
            prop_assert_eq!(s, 401);
            let seg = app.http.get(format!("{}/stream/x/index.m3u8", app.url));
            let s = status(seg.header("authorization", format!("Bearer {t}")))?;
            prop_assert!((400..500).contains(&s), "stream {}", s);
            Ok(())
        })
        .unwrap();
    runner(150)
        .run(&edits(), |e| {
            let t = String::from_utf8_lossy(&apply(&token, &e))
                .chars()
                .filter(|c| (' '..='~').contains(c))
                .collect::<String>();
            let me = app.http.get(format!("{}/api/v1/me", app.url));
            let s = status(me.header("authorization", format!("Bearer {t}")))?;
            prop_assert!(
                s == 401 || (s == 200 && t.trim() == token),
                "{} for {}",
                s,
                t
            );
            Ok(())
        })
        .unwrap();
    runner(150)
        .run(&(any::<String>(), printable), |(message, signature)| {
            let login = app.http.post(format!("{}/api/v1/auth/login", app.url));
            let s = status(login.json(&json!({ "message": message, "signature": signature })))?;
            prop_assert!((400..500).contains(&s), "login {}", s);
            Ok(())
        })
        .unwrap();
    runner(150)
        .run(&prop::collection::vec(any::<u8>(), 0..400), |body| {
            let login = app.http.post(format!("{}/api/v1/auth/login", app.url));
            let s = status(login.header("content-type", "application/json").body(body))?;
            prop_assert!((400..500).contains(&s), "login {}", s);
            Ok(())
        })
        .unwrap();
}
