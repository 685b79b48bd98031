//! The whole path of one viewer: login → join → playlist → segment → heartbeats → claim → POAP on chain.

use std::time::Duration;

use alloy::primitives::U256;
use marquee::chain::bindings::AttendancePOAP;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn viewer_with_ticket_watches_and_receives_the_attendance_poap_on_chain() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    app.mint_pass(viewer.address()).await;
    let now = OffsetDateTime::now_utc();
    let ends = now + time::Duration::seconds(12);
    let event = app
        .create_event(
            now - time::Duration::seconds(1),
            ends,
            app.pass_gate(),
            json!({ "mode": "mint", "min_watch_seconds": 3 }),
        )
        .await;
    let id = event["id"].as_str().unwrap();
    assert_eq!(event["organizer"], wallet(0).address().to_string());

    let session = app.login(&viewer).await;
    let me: Value = app
        .get("/api/v1/me", Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["address"], viewer.address().to_string());
    assert_eq!(me["organizer"], false);

    let r = app.join(id, &session).await;
    assert_eq!(r.status(), 200);
    let join: Value = r.json().await.unwrap();
    assert_eq!(join["ticket"]["type"], "erc721");
    assert_eq!(join["ticket"]["token_id"], "1");
    assert_eq!(
        join["ticket"]["contract"],
        app.contracts.pass.unwrap().to_string()
    );
    let token = join["stream_token"].as_str().unwrap();
    let playlist_url = join["playlist_url"].as_str().unwrap();
    assert!(playlist_url.starts_with(&format!("{}/stream/{id}/index.m3u8?token=", app.url)));

    let r = app.http.get(playlist_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let playlist = r.text().await.unwrap();
    assert!(
        playlist.contains(&format!("seg000.ts?token={token}")),
        "{playlist}"
    );

    let r = app
        .get(&format!("/stream/{id}/seg000.ts?token={token}"), None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "video/mp2t");
    let bytes = r.bytes().await.unwrap();
    let on_disk = std::fs::read(root().join("media/demo/seg000.ts")).unwrap();
    assert_eq!(bytes.as_ref(), on_disk.as_slice());
    assert_eq!(bytes[0], 0x47, "MPEG-TS sync byte");

    // Heartbeats credit the wall-clock time between beats while the screening runs.
    let beat = |app: &TestApp| {
        let url = format!("{}/api/v1/events/{id}/heartbeat?token={token}", app.url);
        let http = app.http.clone();
        async move {
            http.post(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()["watched_seconds"]
                .as_i64()
                .unwrap()
        }
    };
    let started = std::time::Instant::now();
    assert_eq!(beat(&app).await, 0, "the first beat only starts the clock");
    let early = app.claim(id, &session).await;
    assert_problem(early, 403, "claim_not_open").await;
    tokio::time::sleep(Duration::from_millis(2200)).await; // watching: wall-clock time is the point
    let w1 = beat(&app).await;
    let elapsed = started.elapsed().as_secs() as i64;
    assert!(w1 >= 2 && w1 <= elapsed, "credited {w1} of {elapsed} s");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let w2 = beat(&app).await;
    let elapsed = started.elapsed().as_secs() as i64;
    assert!(
        w2 >= w1 + 2 && w2 <= elapsed,
        "credited {w2} of {elapsed} s"
    );

    let attendance: Value = app
        .get(
            &format!("/api/v1/events/{id}/attendance/me"),
            Some(&session),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(attendance["eligible"], true);
    assert_eq!(attendance["claim"], Value::Null);

    // After the end, beats credit nothing more and the claim opens.
    let wait = (ends - OffsetDateTime::now_utc()).unsigned_abs() + Duration::from_millis(300);
    tokio::time::sleep(wait).await;
    let at_end = beat(&app).await;
    assert!(
        at_end >= w2 && at_end <= 13,
        "credits stop at the end: {at_end}"
    );
    assert_eq!(
        beat(&app).await,
        at_end,
        "nothing is credited after the end"
    );
    let r = app.claim(id, &session).await;
    assert!(r.status() == 202 || r.status() == 200, "{}", r.status());
    let claim: Value = r.json().await.unwrap();
    assert!(
        claim["status"] == "pending" || claim["status"] == "minted",
        "{claim}"
    );

    let minted = app.minted_claim(id, &session).await;
    let token_id: U256 = minted["token_id"].as_str().unwrap().parse().unwrap();
    assert!(minted["tx_hash"].as_str().unwrap().starts_with("0x"));

    let poap = AttendancePOAP::new(app.contracts.poap, &app.admin);
    assert_eq!(
        poap.balanceOf(viewer.address()).call().await.unwrap(),
        U256::from(1)
    );
    assert_eq!(
        poap.ownerOf(token_id).call().await.unwrap(),
        viewer.address()
    );
    let chain_event = marquee::poap::ids::chain_event_id(id).unwrap();
    assert_eq!(poap.eventOf(token_id).call().await.unwrap(), chain_event);
    assert_eq!(
        token_id,
        marquee::poap::ids::token_id(chain_event, viewer.address()),
        "the token id names the event and the holder"
    );

    // Claiming again returns the same claim and mints nothing more.
    let again: Value = app.claim(id, &session).await.json().await.unwrap();
    assert_eq!(again["token_id"], minted["token_id"]);
    assert_eq!(
        poap.balanceOf(viewer.address()).call().await.unwrap(),
        U256::from(1)
    );

    let meta: Value = app
        .get(&format!("/api/v1/poap/{token_id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["name"], "Test screening");
    assert_eq!(meta["attributes"][1]["value"], id);

    // The organizer's export: JSON, and CSV on request; nobody else's business.
    let path = format!("/api/v1/events/{id}/attendees");
    assert_problem(app.get(&path, Some(&session)).await, 403, "forbidden").await;
    let owner = app.login(&wallet(0)).await;
    let list: Value = app.get(&path, Some(&owner)).await.json().await.unwrap();
    let row = &list[0];
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(row["address"], viewer.address().to_string());
    assert_eq!(row["watched_seconds"], at_end);
    assert_eq!(row["status"], "minted");
    assert_eq!(row["token_id"], minted["token_id"]);
    assert_eq!(row["tx_hash"], minted["tx_hash"]);
    assert!(row["claimed_at"].as_str().unwrap().ends_with('Z'));
    let csv = app
        .http
        .get(format!("{}{path}", app.url))
        .bearer_auth(&owner)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "address,watched_seconds,claimed_at,status,token_id,tx_hash"
    );
    assert_eq!(
        lines[1],
        format!(
            "{},{at_end},{},minted,{},{}",
            viewer.address(),
            row["claimed_at"].as_str().unwrap(),
            row["token_id"].as_str().unwrap(),
            row["tx_hash"].as_str().unwrap()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_claims_in_record_mode_make_one_claim() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    let id = app.ended_event(json!({ "mode": "record" })).await;
    let session = app.login(&viewer).await;
    let calls = (0..12).map(|_| app.claim(&id, &session));
    let answers = futures_util::future::join_all(calls).await;
    for r in answers {
        assert_eq!(r.status(), 200);
        let c: Value = r.json().await.unwrap();
        assert_eq!(c["status"], "recorded");
    }
    let c: Value = app
        .get(&format!("/api/v1/events/{id}/claim"), Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "recorded");

    // A claimed event stays: its collectibles' metadata comes from it.
    let owner = app.login(&wallet(0)).await;
    let path = format!("/api/v1/events/{id}");
    let r = app
        .send(reqwest::Method::DELETE, &path, Some(&owner), None)
        .await;
    let p = assert_problem(r, 409, "conflict").await;
    assert!(
        p["detail"].as_str().unwrap().starts_with("1 attendance"),
        "{p}"
    );
    assert_eq!(app.get(&path, None).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn claims_refuse_the_ineligible_and_the_late() {
    let app = spawn_app().await;
    let viewer = wallet(1);
    let now = OffsetDateTime::now_utc();
    let ended = app
        .ended_event(json!({ "mode": "record", "min_watch_seconds": 60 }))
        .await;
    let session = app.login(&viewer).await;
    let r = app.claim(&ended, &session).await;
    let body = assert_problem(r, 403, "not_eligible").await;
    assert!(body["detail"].as_str().unwrap().contains("watched 0 s"));

    let closed = app
        .create_event(
            now - time::Duration::hours(3),
            now - time::Duration::hours(2),
            app.pass_gate(),
            json!({ "mode": "record", "claim_until": rfc3339(now - time::Duration::hours(1)) }),
        )
        .await;
    let r = app.claim(closed["id"].as_str().unwrap(), &session).await;
    assert_problem(r, 403, "claim_closed").await;

    // A capped event gives its tokens to the first claimants; theirs stay theirs.
    let capped = app
        .ended_event(json!({ "mode": "record", "max_supply": 1 }))
        .await;
    assert_eq!(app.claim(&capped, &session).await.status(), 200);
    let late = app.login(&wallet(2)).await;
    let body = assert_problem(app.claim(&capped, &late).await, 403, "claim_closed").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("all 1 attendance tokens")
    );
    assert_eq!(app.claim(&capped, &session).await.status(), 200, "repeat");
}
