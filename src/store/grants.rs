//! Stream access granted by joins: seat leases, their renewal, and their revocation.

use std::sync::LazyLock;

use super::batch::{Batch, Batcher};
use super::script::{self, Arg, Script};
use super::seat_thread::{SeatThread, Statements, Step};
use super::{Conn, Db, lock_key, with_pool};

/// A grant about to be made by a join.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// Fresh id, carried by the stream token.
    pub grant_id: &'a str,
    /// The event watched.
    pub event_id: &'a str,
    /// The session that joined.
    pub session_id: &'a str,
    /// The viewer's wallet.
    pub wallet: &'a str,
    /// Who holds the ticket (the wallet or its vault).
    pub holder: &'a str,
    /// `erc721`, `erc1155` or `erc20`.
    pub kind: &'a str,
    /// The ticket's contract.
    pub contract: &'a str,
    /// The ticket's token id, `""` for ERC-20.
    pub token_id: &'a str,
    /// The block whose state admitted it.
    pub block: u64,
    /// When the seat lapses without a heartbeat (ms).
    pub lease_until: i64,
    /// When its stream token expires (ms).
    pub expires_at: i64,
}

/// How many live sessions a ticket may seat, and what a second device of the same wallet gets.
#[derive(Debug, Clone, Copy)]
pub struct Seats {
    /// Live grants per ticket.
    pub max: u32,
    /// Whether a wallet's new session takes over the seat of its earlier one.
    pub takeover: bool,
}

/// What a join got; either way, `cut` are grants revoked by it (lapsed leases, a seat taken
/// over, the session's grant on another ticket), whose streams must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seating {
    /// The grant the stream token carries (a new one, or this session's earlier one renewed);
    /// none when every seat of the ticket is taken by live sessions.
    pub grant_id: Option<String>,
    /// Grants revoked by this join.
    pub cut: Vec<String>,
}

/// A live grant, as the chain follower needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveGrant {
    /// Its id.
    pub grant_id: String,
    /// The event.
    pub event_id: String,
    /// The viewer's wallet.
    pub wallet: String,
    /// The ticket's kind.
    pub kind: String,
    /// The ticket's contract.
    pub contract: String,
    /// The ticket's token id (`""` for ERC-20).
    pub token_id: String,
    /// The block whose state admitted it.
    pub block: i64,
}

/// Most joins seated in one transaction.
const BATCH: usize = 64;

/// The statements that seat one join, in order. Parameters: $1 now, $2 new grant id, $3 event,
/// $4 session, $5 wallet, $6 holder, $7 kind, $8 contract, $9 token id, $10 block, $11 lease
/// end, $12 expiry, $13 seats per ticket (NULL: unlimited; set for ERC-721 tickets only), $14
/// takeover (0 or 1). A session is one wallet's, so every lookup of a session's grants names
/// the wallet too: the wallet's index then finds them. Seats are counted among ERC-721 grants
/// (`kind = 'erc721'`, as the ticket's index is partial on it).
const SEAT: [&str; 6] = [
    "UPDATE grant_ SET lease_until = $11, block = $10,
       expires_at = CASE WHEN expires_at > $12 THEN expires_at ELSE $12 END
 WHERE wallet = $5 AND session_id = $4 AND event_id = $3 AND holder = $6 AND contract = $8 AND token_id = $9
   AND revoked_at IS NULL
 RETURNING 'seated', grant_id",
    "UPDATE grant_ SET revoked_at = $1, reason = 'lease lapsed'
 WHERE $13 IS NOT NULL AND event_id = $3 AND contract = $8 AND token_id = $9
   AND revoked_at IS NULL AND kind = 'erc721' AND (lease_until <= $1 OR expires_at <= $1)
 RETURNING 'cut', grant_id",
    "UPDATE grant_ SET revoked_at = $1, reason = 'taken over'
 WHERE $14 <> 0 AND grant_id = (SELECT grant_id FROM grant_
     WHERE event_id = $3 AND contract = $8 AND token_id = $9 AND revoked_at IS NULL
       AND kind = 'erc721' AND wallet = $5 AND session_id <> $4 ORDER BY created_at LIMIT 1)
   AND NOT EXISTS (SELECT 1 FROM grant_ WHERE wallet = $5 AND session_id = $4 AND event_id = $3
     AND holder = $6 AND contract = $8 AND token_id = $9 AND revoked_at IS NULL)
   AND (SELECT count(*) FROM grant_ WHERE event_id = $3 AND contract = $8 AND token_id = $9
     AND revoked_at IS NULL AND kind = 'erc721' AND session_id <> $4) = $13
 RETURNING 'cut', grant_id",
    "INSERT INTO grant_ (grant_id, event_id, session_id, wallet, holder, kind, contract, token_id,
   block, created_at, lease_until, expires_at)
 SELECT $2, $3, $4, $5, $6, $7, $8, $9, $10, $1, $11, $12
 WHERE NOT EXISTS (SELECT 1 FROM grant_ WHERE wallet = $5 AND session_id = $4 AND event_id = $3
     AND holder = $6 AND contract = $8 AND token_id = $9 AND revoked_at IS NULL)
   AND ($13 IS NULL OR (SELECT count(*) FROM grant_ WHERE event_id = $3 AND contract = $8
     AND token_id = $9 AND revoked_at IS NULL AND kind = 'erc721' AND session_id <> $4) < $13)
 RETURNING 'seated', grant_id",
    "UPDATE grant_ SET revoked_at = $1, reason = 'replaced'
 WHERE wallet = $5 AND session_id = $4 AND event_id = $3 AND revoked_at IS NULL AND grant_id <> $2
   AND NOT (holder = $6 AND contract = $8 AND token_id = $9)
   AND EXISTS (SELECT 1 FROM grant_ WHERE grant_id = $2)
 RETURNING 'cut', grant_id",
    "INSERT INTO attendance (event_id, address, joined_at)
 SELECT $3, $5, $1 WHERE EXISTS (SELECT 1 FROM grant_ WHERE wallet = $5 AND session_id = $4 AND event_id = $3
     AND holder = $6 AND contract = $8 AND token_id = $9 AND revoked_at IS NULL)
 ON CONFLICT (event_id, address) DO NOTHING",
];

/// Seats joins, those arriving together in one transaction; cheap to clone.
///
/// One writer seats every join: joins on one ticket are seated one after the other, so two
/// can never both see a free seat, and a burst of joins shares one commit. A join is answered
/// only after the commit that seated it.
#[derive(Debug, Clone)]
pub enum Seater {
    /// SQLite: a thread with a connection of its own.
    Sqlite(SeatThread),
    /// PostgreSQL: a task, each ticket locked for other nodes.
    Postgres(Batcher<SeatJoins>),
}

/// For each statement of [`SEAT`], the parameters without which it changes nothing: a ticket
/// without a seat limit ($13, fungible tokens) neither lapses nor takes over seats.
const SEAT_NEEDS: [&[usize]; 6] = [&[], &[13], &[13, 14], &[], &[], &[]];

/// [`SEAT`] with positional parameters, for the SQLite seat thread.
static SEAT_SQLITE: Statements = LazyLock::new(|| {
    SEAT.iter()
        .zip(SEAT_NEEDS)
        .map(|(sql, needs)| Step {
            script: Script::new(sql),
            needs,
        })
        .collect()
});

impl Seater {
    /// Starts the writer of seats in `db`.
    pub fn spawn(db: &Db) -> std::io::Result<Self> {
        Ok(match db {
            Db::Sqlite(pool) => Seater::Sqlite(SeatThread::spawn(
                pool.connect_options().get_filename(),
                &SEAT_SQLITE,
                BATCH,
            )?),
            Db::Postgres(_) => Seater::Postgres(Batcher::spawn(db.clone())),
        })
    }

    /// Seats `g`, or renews the same session's grant on the same ticket, and records the
    /// wallet's attendance of the event, atomically.
    ///
    /// With `seats`, the ticket admits at most `seats.max` live grants: lapsed leases are
    /// revoked first; when full, the wallet's own earliest grant (another device's) is taken
    /// over if `seats.takeover`, else no grant is made. A session seated on another ticket of
    /// the event gives that seat up, but only once seated on this one.
    pub async fn acquire(
        &self,
        g: &NewGrant<'_>,
        seats: Option<Seats>,
        now: i64,
    ) -> Result<Seating, sqlx::Error> {
        let args = vec![
            Arg::Int(now),
            Arg::text(g.grant_id),
            Arg::text(g.event_id),
            Arg::text(g.session_id),
            Arg::text(g.wallet),
            Arg::text(g.holder),
            Arg::text(g.kind),
            Arg::text(g.contract),
            Arg::text(g.token_id),
            Arg::Int(g.block as i64),
            Arg::Int(g.lease_until),
            Arg::Int(g.expires_at),
            seats.map_or(Arg::Null, |s| Arg::Int(s.max.into())),
            Arg::Int(seats.is_some_and(|s| s.takeover).into()),
        ];
        match self {
            Seater::Sqlite(thread) => thread.call(args).await.map(seating),
            Seater::Postgres(batcher) => batcher.call(args).await,
        }
    }
}

/// The batches of the [`Seater`] on PostgreSQL: each item the parameters of [`SEAT`], all
/// seated in one transaction.
#[derive(Debug)]
pub enum SeatJoins {}

impl Batch for SeatJoins {
    type Item = Vec<Arg>;
    type Out = Seating;
    const NAME: &'static str = "seating joins";
    const MAX: usize = BATCH;

    async fn run(conn: &mut Conn, batch: &[Vec<Arg>]) -> Result<Vec<Seating>, sqlx::Error> {
        let mut seatings = Vec::with_capacity(batch.len());
        match conn {
            Conn::Sqlite(_) => {
                return Err(sqlx::Error::Protocol(
                    "SQLite seats are written by the seat thread".into(),
                ));
            }
            Conn::Postgres(c) => {
                // Other nodes seat joins too: each ticket of the batch is locked, in one order
                // so that two batches never wait on each other, before its seats are counted.
                let mut tickets: Vec<i64> = batch.iter().map(|args| ticket_lock(args)).collect();
                tickets.sort_unstable();
                tickets.dedup();
                sqlx::query("BEGIN").execute(&mut **c).await?;
                sqlx::query("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS t(k)")
                    .bind(&tickets)
                    .execute(&mut **c)
                    .await?;
                for args in batch {
                    let q = script::bind(sqlx::query_as(CALL_SEAT), args);
                    seatings.push(seating(q.fetch_all(&mut **c).await?));
                }
                sqlx::query("COMMIT").execute(&mut **c).await?;
            }
        }
        Ok(seatings)
    }
}

/// On PostgreSQL, [`SEAT`] runs as one server-side function: a join then costs one round trip
/// rather than one per statement.
const CALL_SEAT: &str = "SELECT seat_what, seat_grant \
     FROM marquee_seat($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";

/// (Re)defines `marquee_seat` from [`SEAT`] on PostgreSQL. It is defined at start rather than
/// by a migration so that the statements exist once, here; nodes starting together define it
/// one after the other.
pub(super) async fn define_seat_function(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    let mut body = String::new();
    for statement in SEAT {
        if statement.contains("RETURNING") {
            body.push_str(&format!(
                "RETURN QUERY WITH r AS ({statement}) SELECT * FROM r;\n"
            ));
        } else {
            body.push_str(&format!("{statement};\n"));
        }
    }
    let define = format!(
        "CREATE OR REPLACE FUNCTION marquee_seat(bigint, text, text, text, text, text, text, \
         text, text, bigint, bigint, bigint, bigint, bigint) \
         RETURNS TABLE (seat_what text, seat_grant text) LANGUAGE plpgsql AS $seat$\n\
         BEGIN\n{body}END\n$seat$"
    );
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock_key(&["marquee_seat"]))
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(&define).execute(&mut *tx).await?;
    tx.commit().await
}

/// The advisory lock of the ticket a join's [`SEAT`] parameters name (event, contract, token).
fn ticket_lock(args: &[Arg]) -> i64 {
    let text = |i: usize| match &args[i] {
        Arg::Text(s) => s.as_str(),
        _ => "",
    };
    lock_key(&["seat", text(2), text(7), text(8)])
}

fn seating(rows: Vec<(String, String)>) -> Seating {
    let mut seating = Seating {
        grant_id: None,
        cut: Vec::new(),
    };
    for (what, id) in rows {
        match what.as_str() {
            "seated" => seating.grant_id = Some(id),
            _ => seating.cut.push(id),
        }
    }
    seating
}

/// Extends the lease of live grant `grant_id` to `until`; false when it is revoked or unknown.
pub async fn renew(db: &Db, grant_id: &str, until: i64) -> Result<bool, sqlx::Error> {
    let done = with_pool!(db, |p| {
        sqlx::query(
            "UPDATE grant_ \
             SET lease_until = CASE WHEN lease_until > $1 THEN lease_until ELSE $1 END \
             WHERE grant_id = $2 AND revoked_at IS NULL",
        )
        .bind(until)
        .bind(grant_id)
        .execute(p)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(done == 1)
}

/// Revokes grant `grant_id` (if live) for `reason`.
pub async fn revoke(db: &Db, grant_id: &str, now: i64, reason: &str) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "UPDATE grant_ SET revoked_at = $1, reason = $2 WHERE grant_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(grant_id)
    .execute(p)
    .await
    .map(|_| ()))
}

/// The live grants of a holder: its own (holder and wallet the same), then those it lent
/// through a delegation, each part found by its own index.
const LIVE_OF_HOLDER: &str = "SELECT grant_id, event_id, wallet, kind, contract, token_id, block \
     FROM grant_ WHERE wallet = $1 AND holder = $1 AND revoked_at IS NULL AND expires_at > $2 \
     UNION ALL \
     SELECT grant_id, event_id, wallet, kind, contract, token_id, block \
     FROM grant_ WHERE holder = $1 AND holder <> wallet AND revoked_at IS NULL AND expires_at > $2";

/// Live grants whose ticket `holder` holds.
pub async fn live_of_holder(
    db: &Db,
    holder: &str,
    now: i64,
) -> Result<Vec<LiveGrant>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(LIVE_OF_HOLDER)
        .bind(holder)
        .bind(now)
        .fetch_all(p)
        .await)
}

/// Grants revoked at or after `since` whose tokens have not expired by `now`, with when.
pub async fn revoked_since(
    db: &Db,
    since: i64,
    now: i64,
) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
    with_pool!(db, |p| sqlx::query_as(
        "SELECT grant_id, revoked_at, expires_at FROM grant_ \
         WHERE revoked_at >= $1 AND expires_at > $2",
    )
    .bind(since)
    .bind(now)
    .fetch_all(p)
    .await)
}

/// Forgets grants whose stream tokens expired before `now`: they open nothing any more.
pub async fn purge_expired(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "DELETE FROM grant_ WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(p)
    .await
    .map(|done| done.rows_affected()))
}

/// The last block follower `name` has processed, if it ever ran.
pub async fn cursor(db: &Db, name: &str) -> Result<Option<u64>, sqlx::Error> {
    let block: Option<i64> = with_pool!(db, |p| sqlx::query_scalar(
        "SELECT block FROM chain_cursor WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(p)
    .await)?;
    Ok(block.map(|b| b as u64))
}

/// Records that follower `name` has processed every block up to `block`.
pub async fn set_cursor(db: &Db, name: &str, block: u64) -> Result<(), sqlx::Error> {
    with_pool!(db, |p| sqlx::query(
        "INSERT INTO chain_cursor (name, block) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET block = $2",
    )
    .bind(name)
    .bind(block as i64)
    .execute(p)
    .await
    .map(|_| ()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite's plan of `statement` with every parameter NULL, one line per step.
    async fn plan(db: &Db, statement: &str) -> Vec<String> {
        let Db::Sqlite(pool) = db else {
            unreachable!("an SQLite file")
        };
        let script = Script::new(&format!("EXPLAIN QUERY PLAN {statement}"));
        let nulls = vec![Arg::Null; script.order().len()];
        let rows: Vec<(i64, i64, i64, String)> = script::bind(sqlx::query_as(script.sql()), &nulls)
            .fetch_all(pool)
            .await
            .unwrap();
        rows.into_iter().map(|(.., detail)| detail).collect()
    }

    #[tokio::test]
    async fn every_lookup_of_grants_goes_through_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let db = super::super::connect(&url).await.unwrap();
        // With the ticket's index instead, a join of a screening gated by an ERC-20 token
        // (whose grants all share the contract and have no token id) read every live grant of
        // the event: each join cost more as the audience grew.
        let session = "SEARCH grant_ USING INDEX grant_wallet (wallet=? AND event_id=? \
             AND session_id=?)";
        assert_eq!(plan(&db, SEAT[0]).await, [session], "renewal");
        let attendance = plan(&db, SEAT[5]).await;
        assert!(attendance.iter().any(|l| l == session), "{attendance:?}");
        assert!(!attendance.iter().any(|l| l.contains("grant_ticket")));
        let insert = plan(&db, SEAT[3]).await;
        assert!(insert.iter().any(|l| l == session), "{insert:?}");
        // Seats are counted on the ticket's index, which holds ERC-721 grants only.
        let ticket = "SEARCH grant_ USING INDEX grant_ticket (event_id=? AND contract=? \
             AND token_id=?)";
        assert!(insert.iter().any(|l| l == ticket), "{insert:?}");
        assert_eq!(plan(&db, SEAT[1]).await, [ticket], "lapse");
        let takeover = plan(&db, SEAT[2]).await;
        assert!(takeover.iter().any(|l| l == ticket), "{takeover:?}");
        assert!(
            !takeover.iter().any(|l| l.starts_with("SCAN")),
            "{takeover:?}"
        );
        // An event's live grants are counted through its attendance, not by a scan.
        let live = plan(&db, super::super::stats::LIVE).await;
        assert!(
            live.iter()
                .any(|l| l.contains("grant_wallet (wallet=? AND event_id=?)")),
            "{live:?}"
        );
        assert!(!live.iter().any(|l| l.starts_with("SCAN")), "{live:?}");
        // When a ticket moves, its holder's grants are found by index, whether the holder
        // is the viewer or a vault that delegated to them.
        let moved = plan(&db, LIVE_OF_HOLDER).await;
        assert!(
            moved.iter().any(|l| l.contains("grant_wallet (wallet=?)")),
            "{moved:?}"
        );
        assert!(
            moved.iter().any(|l| l.contains("grant_vault (holder=?)")),
            "{moved:?}"
        );
        assert!(!moved.iter().any(|l| l.starts_with("SCAN")), "{moved:?}");
    }
}
