//! join, seat writes: the database write that seats a new viewer, in a screening gated by an
//! ERC-20 token, with no one watching and with a large audience already seated. Every join
//! waits for this write, and one writer makes them all, so its cost must not grow with the
//! audience.

use std::time::Instant;

use marquee::store::grants::{NewGrant, Seater};

/// Viewers already seated in the large screening.
const AUDIENCE: usize = 20_000;
/// New viewers seated one after the other at each size: enough for a few WAL checkpoints in
/// each phase (with 1,000, one phase might have one and the other none).
const MEASURED: usize = 5_000;

pub(super) async fn seat_writes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("seats.db").display());
    let db = marquee::store::connect(&url).await.unwrap();
    let marquee::store::Db::Sqlite(pool) = &db else {
        unreachable!("an SQLite file")
    };
    sqlx::query(
        "INSERT INTO event (event_id, organizer, starts_at, ends_at, body, created_at) \
         VALUES ('screening', '0x0', 0, 0, '{}', 0)",
    )
    .execute(pool)
    .await
    .unwrap();
    let seater = Seater::spawn(&db).unwrap();
    let now = marquee::time_util::now_ms();
    let seat = |viewer: usize| {
        let seater = seater.clone();
        async move {
            let (id, wallet) = (format!("g{viewer}"), format!("0x{viewer:040x}"));
            let g = NewGrant {
                grant_id: &id,
                event_id: "screening",
                session_id: &id,
                wallet: &wallet,
                holder: &wallet,
                kind: "erc20",
                contract: "0x00000000000000000000000000000000000000e2",
                token_id: "",
                block: 1,
                lease_until: now + 60_000,
                expires_at: now + 3_600_000,
            };
            let seated = seater.acquire(&g, None, now).await.unwrap();
            assert!(seated.grant_id.is_some());
        }
    };
    let one_by_one = |from: usize| {
        let seat = &seat;
        async move {
            // Both phases start from an empty WAL.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
                .unwrap();
            let t = Instant::now();
            for viewer in from..from + MEASURED {
                seat(viewer).await;
            }
            t.elapsed().as_secs_f64() * 1e6 / MEASURED as f64
        }
    };
    let empty = one_by_one(0).await;
    // The audience arrives together, as at doors open: many joins share each commit.
    let arrivals: Vec<_> = (MEASURED..AUDIENCE).map(seat).collect();
    futures_util::future::join_all(arrivals).await;
    let full = one_by_one(AUDIENCE).await;
    println!("seating a new viewer (ERC-20 gate, one join at a time)");
    println!("  in an empty screening                  {empty:8.1} µs   (baseline)");
    println!(
        "  with {AUDIENCE} viewers seated              {full:8.1} µs   ratio {:.2}",
        full / empty
    );
}
