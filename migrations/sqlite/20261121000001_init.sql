-- Marquee's schema. Instants are Unix milliseconds (INTEGER); addresses are EIP-55 text.

-- Sign-in nonces: a row exists from issue until it is consumed (deleted) or expires.
CREATE TABLE nonce (
    nonce       TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX nonce_expires_at ON nonce (expires_at);

-- Sessions created by a login; revoked_at is set by logout and followed by every node.
CREATE TABLE session (
    session_id  TEXT PRIMARY KEY,
    address     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX session_revoked_at ON session (revoked_at);

-- Keys that sign session and stream tokens (Ed25519, PKCS#8 PEM); the newest signs.
CREATE TABLE signing_key (
    kid          TEXT PRIMARY KEY,
    private_pem  TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

-- Screenings. `body` is the organizer's validated event (JSON); the columns are what queries need.
CREATE TABLE event (
    event_id    TEXT PRIMARY KEY,
    organizer   TEXT NOT NULL,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX event_starts_at ON event (starts_at);

-- Watch time per (event, wallet), credited by heartbeats.
CREATE TABLE attendance (
    event_id      TEXT NOT NULL REFERENCES event (event_id) ON DELETE CASCADE,
    address       TEXT NOT NULL,
    watched_ms    INTEGER NOT NULL DEFAULT 0,
    last_beat_at  INTEGER,
    joined_at     INTEGER NOT NULL,
    PRIMARY KEY (event_id, address)
);

-- Attendance token claims: one per (event, wallet). A `pending` claim with a tx_hash has a
-- mint transaction in flight; the minter looks it up on chain before ever sending again.
CREATE TABLE claim (
    claim_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL REFERENCES event (event_id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'minted', 'recorded')),
    token_id    TEXT,
    tx_hash     TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT claim_event_address UNIQUE (event_id, address)
);
CREATE INDEX claim_pending ON claim (status, event_id);
CREATE UNIQUE INDEX claim_token_id ON claim (token_id);
