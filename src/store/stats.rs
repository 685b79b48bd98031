//! What an organizer sees of a screening: who is watching now, who came, how long they
//! watched, and the attendance tokens claimed.

use serde::Serialize;

use super::{Db, with_pool};

/// Upper bounds (minutes, exclusive) of the watch-time buckets; the last bucket is open.
const BUCKETS_MINUTES: [u64; 6] = [1, 5, 15, 30, 60, 120];

/// The figures of one event at one moment.
#[derive(Debug, Serialize)]
pub struct EventStats {
    /// Wallets with a live stream now (a lease renewed lately, a token not expired, the
    /// session not logged out).
    pub live_viewers: i64,
    /// Live streams now (one wallet may watch on several devices where the event allows it).
    pub live_sessions: i64,
    /// Admissions: each session let in on a ticket counts once, however often it re-joins.
    pub joins: i64,
    /// Wallets ever admitted.
    pub viewers: i64,
    /// Watch time of those wallets.
    pub watched: Watched,
    /// Wallets that watched long enough to claim (0 when the event has no attendance token).
    pub eligible: i64,
    /// Attendance tokens claimed.
    pub claims: i64,
    /// Claims by status (`pending`, `minted`, `recorded`, `voucher`).
    pub claims_by_status: Claims,
}

/// Watch time across an event's viewers.
#[derive(Debug, Serialize)]
pub struct Watched {
    /// Sum over viewers, seconds.
    pub total_seconds: i64,
    /// Median viewer, seconds.
    pub median_seconds: i64,
    /// 90th percentile viewer, seconds.
    pub p90_seconds: i64,
    /// Longest, seconds.
    pub max_seconds: i64,
    /// Viewers per watch-time bucket.
    pub distribution: Vec<Bucket>,
}

/// Viewers who watched at least `from_minutes` and less than `to_minutes` (open when null).
#[derive(Debug, Serialize)]
pub struct Bucket {
    /// Lower bound, minutes.
    pub from_minutes: u64,
    /// Upper bound, minutes (exclusive); none for the last bucket.
    pub to_minutes: Option<u64>,
    /// Viewers in it.
    pub viewers: usize,
}

/// Claims per status.
#[derive(Debug, Default, Serialize)]
pub struct Claims {
    /// Waiting to be minted.
    pub pending: i64,
    /// On chain.
    pub minted: i64,
    /// Kept in the database (record mode).
    pub recorded: i64,
    /// Handed out as a voucher not yet redeemed.
    pub voucher: i64,
}

/// The live sessions and viewers of event `$1` at `$2`. The live grants are found through the
/// event's attendance, which the join that made each grant wrote: the grants' own indexes are
/// keyed by wallet, and by ticket for ERC-721 tickets only.
pub(super) const LIVE: &str = "SELECT count(*), count(DISTINCT g.wallet) FROM attendance a \
     JOIN grant_ g ON g.wallet = a.address AND g.event_id = a.event_id \
     WHERE a.event_id = $1 AND g.revoked_at IS NULL AND g.lease_until > $2 AND g.expires_at > $2 \
       AND g.session_id NOT IN (SELECT session_id FROM revoked_session)";

/// The figures of `event_id` at `now` (ms); `min_watch_ms` is what a claim needs, if any.
pub async fn event(
    db: &Db,
    event_id: &str,
    now: i64,
    min_watch_ms: Option<i64>,
) -> Result<EventStats, sqlx::Error> {
    let (live_sessions, live_viewers): (i64, i64) = with_pool!(db, |p| sqlx::query_as(LIVE)
        .bind(event_id)
        .bind(now)
        .fetch_one(p)
        .await)?;
    let joins: i64 = with_pool!(db, |p| sqlx::query_scalar(
        "SELECT count(*) FROM grant_ WHERE event_id = $1"
    )
    .bind(event_id)
    .fetch_one(p)
    .await)?;
    let watched: Vec<i64> = with_pool!(db, |p| sqlx::query_scalar(
        "SELECT watched_ms FROM attendance WHERE event_id = $1 ORDER BY watched_ms",
    )
    .bind(event_id)
    .fetch_all(p)
    .await)?;
    let by_status: Vec<(String, i64)> = with_pool!(db, |p| sqlx::query_as(
        "SELECT status, count(*) FROM claim WHERE event_id = $1 GROUP BY status"
    )
    .bind(event_id)
    .fetch_all(p)
    .await)?;
    let mut claims = Claims::default();
    for (status, n) in by_status {
        match status.as_str() {
            "pending" => claims.pending = n,
            "minted" => claims.minted = n,
            "voucher" => claims.voucher = n,
            _ => claims.recorded += n,
        }
    }
    let eligible = min_watch_ms.map_or(0, |min| {
        watched.len() - watched.partition_point(|&w| w < min)
    }) as i64;
    Ok(EventStats {
        live_viewers,
        live_sessions,
        joins,
        viewers: watched.len() as i64,
        watched: distribution(&watched),
        eligible,
        claims: claims.pending + claims.minted + claims.recorded + claims.voucher,
        claims_by_status: claims,
    })
}

/// Summary of `sorted` watch times (ms, ascending).
fn distribution(sorted: &[i64]) -> Watched {
    let pick = |q: f64| {
        sorted
            .get(((sorted.len() as f64 - 1.0) * q).round().max(0.0) as usize)
            .map_or(0, |ms| ms / 1000)
    };
    let mut from = 0;
    let mut distribution = Vec::new();
    for to in BUCKETS_MINUTES.into_iter().map(Some).chain([None]) {
        let below = |m: Option<u64>| {
            m.map_or(sorted.len(), |m| {
                sorted.partition_point(|&w| w < (m * 60_000) as i64)
            })
        };
        distribution.push(Bucket {
            from_minutes: from,
            to_minutes: to,
            viewers: below(to) - below(Some(from)),
        });
        from = to.unwrap_or(0);
    }
    Watched {
        total_seconds: sorted.iter().sum::<i64>() / 1000,
        median_seconds: pick(0.5),
        p90_seconds: pick(0.9),
        max_seconds: sorted.last().map_or(0, |ms| ms / 1000),
        distribution,
    }
}

#[cfg(test)]
mod tests {
    use super::distribution;

    #[test]
    fn viewers_fall_into_one_bucket_each() {
        let minutes = |m: i64| m * 60_000;
        let w = distribution(&[
            0,
            30_000,
            minutes(3),
            minutes(20),
            minutes(45),
            minutes(200),
        ]);
        let counts: Vec<usize> = w.distribution.iter().map(|b| b.viewers).collect();
        assert_eq!(counts, [2, 1, 0, 1, 1, 0, 1]);
        assert_eq!(w.distribution[6].from_minutes, 120);
        assert_eq!(w.distribution[6].to_minutes, None);
        assert_eq!(w.max_seconds, 12_000);
        assert_eq!(w.median_seconds, 20 * 60);
        let none = distribution(&[]);
        assert_eq!(none.median_seconds, 0);
        assert!(none.distribution.iter().all(|b| b.viewers == 0));
    }
}
