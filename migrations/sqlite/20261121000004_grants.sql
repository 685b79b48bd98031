-- Stream access granted by a join: the ticket that admitted it, and the seat lease that
-- heartbeats renew. A grant is revoked (revoked_at set) when its ticket leaves the holder,
-- when another device takes its seat over, or when its lease lapsed and someone else sat down.
CREATE TABLE grant_ (
    grant_id     TEXT PRIMARY KEY,
    event_id     TEXT NOT NULL REFERENCES event (event_id) ON DELETE CASCADE,
    session_id   TEXT NOT NULL,
    wallet       TEXT NOT NULL,
    -- The address that holds the ticket: the wallet, or the vault that delegated to it.
    holder       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    contract     TEXT NOT NULL,
    -- ERC-721 and ERC-1155 id as decimal text; '' for ERC-20.
    token_id     TEXT NOT NULL,
    -- The block whose state admitted the ticket; transfers after it revoke.
    block        INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    lease_until  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    reason       TEXT
);
CREATE INDEX grant_ticket ON grant_ (event_id, contract, token_id) WHERE revoked_at IS NULL;
CREATE INDEX grant_session ON grant_ (session_id, event_id) WHERE revoked_at IS NULL;
CREATE INDEX grant_holder ON grant_ (holder) WHERE revoked_at IS NULL;
CREATE INDEX grant_revoked_at ON grant_ (revoked_at);
CREATE INDEX grant_expires_at ON grant_ (expires_at);

-- How far the chain's logs have been followed (one row per follower).
CREATE TABLE chain_cursor (
    name   TEXT PRIMARY KEY,
    block  INTEGER NOT NULL
);
