//! The organizer API: update and delete, ownership, validation of patches.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread")]
async fn organizers_edit_and_delete_only_their_own_events() {
    let other = wallet(2).address();
    let app = spawn_app_with(|s| {
        s.organizers = Some(format!("{},{other:#x}", wallet(0).address()));
    })
    .await;
    let id = app.live_event(app.pass_gate()).await;
    let path = format!("/api/v1/events/{id}");
    let owner = app.login(&wallet(0)).await;
    let rival = app.login(&wallet(2)).await;
    let viewer = app.login(&wallet(1)).await;
    let patch = |body: Value| Some(body);

    // Nobody but the owner changes or deletes it, and refusals change nothing.
    let before: Value = app.get(&path, None).await.json().await.unwrap();
    for (token, status) in [(&rival, 403), (&viewer, 403)] {
        let r = app
            .send(
                Method::PATCH,
                &path,
                Some(token),
                patch(json!({ "title": "Mine" })),
            )
            .await;
        assert_problem(r, status, "forbidden").await;
        let r = app.send(Method::DELETE, &path, Some(token), None).await;
        assert_problem(r, status, "forbidden").await;
    }
    let r = app
        .send(
            Method::PATCH,
            &path,
            None,
            patch(json!({ "title": "Mine" })),
        )
        .await;
    assert_problem(r, 401, "unauthenticated").await;

    // Bad patches name the field and change nothing.
    for (bad, field) in [
        (json!({ "ends_at": "2000-01-01T00:00:00Z" }), "ends_at"),
        (
            json!({ "gate": { "any": [{ "type": "erc9999" }] } }),
            "gate",
        ),
        (
            json!({ "organizer": "0x0000000000000000000000000000000000000001" }),
            "organizer",
        ),
        (
            json!({ "max_sessions_per_ticket": "two" }),
            "max_sessions_per_ticket",
        ),
        (json!({ "title": "" }), "title"),
    ] {
        let r = app
            .send(Method::PATCH, &path, Some(&owner), Some(bad))
            .await;
        let p = assert_problem(r, 400, "invalid_request").await;
        assert!(
            p["detail"].as_str().unwrap().contains(field),
            "{field}: {p}"
        );
    }
    let r = app
        .send(Method::PATCH, &path, Some(&owner), Some(json!([1])))
        .await;
    assert_problem(r, 400, "invalid_request").await;
    let unchanged: Value = app.get(&path, None).await.json().await.unwrap();
    assert_eq!(unchanged, before);

    // A merge patch: named members change, nested objects merge, null removes.
    let r = app
        .send(
            Method::PATCH,
            &path,
            Some(&owner),
            patch(json!({
                "title": "Director's cut", "description": null,
                "stream": { "replay": false }, "max_sessions_per_ticket": 2,
            })),
        )
        .await;
    assert_eq!(r.status(), 200);
    let patched: Value = r.json().await.unwrap();
    assert_eq!(patched["title"], "Director's cut");
    assert_eq!(patched["description"], "");
    assert_eq!(patched["stream"]["source"], before["stream"]["source"]);
    assert_eq!(patched["stream"]["replay"], false);
    assert_eq!(patched["max_sessions_per_ticket"], 2);
    assert_eq!(patched["gate"], before["gate"]);
    assert_eq!(patched["id"], before["id"]);
    let read: Value = app.get(&path, None).await.json().await.unwrap();
    assert_eq!(read, patched);

    // Deleted: gone for everyone, and deleting again is 404.
    let r = app.send(Method::DELETE, &path, Some(&owner), None).await;
    assert_eq!(r.status(), 204);
    assert_problem(app.get(&path, None).await, 404, "not_found").await;
    assert_problem(app.join(&id, &viewer).await, 404, "not_found").await;
    let r = app.send(Method::DELETE, &path, Some(&owner), None).await;
    assert_problem(r, 404, "not_found").await;
    let listed: Value = app.get("/api/v1/events", None).await.json().await.unwrap();
    assert!(listed["events"].as_array().unwrap().is_empty());
}
