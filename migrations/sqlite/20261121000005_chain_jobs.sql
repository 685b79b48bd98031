-- The minter's outbox. A job is one transaction's worth of work (create an event on chain, or
-- mint a batch of claims) bound to one nonce of the minter's account: every attempt at it
-- (the first send, each fee bump) reuses that nonce, so at most one of them can ever be mined.
-- A job and its nonce are committed before anything is signed, and each signed attempt is
-- committed before it is sent, so after a crash the chain is asked about every attempt
-- rather than the work being sent again blindly.
CREATE TABLE chain_job (
    job_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('create_event', 'mint_batch')),
    event_id    TEXT NOT NULL,
    sender      TEXT NOT NULL,
    nonce       INTEGER NOT NULL,
    to_address  TEXT NOT NULL,
    input       TEXT NOT NULL,
    gas_limit   INTEGER NOT NULL,
    -- open: not yet settled; mined: a receipt says it succeeded; failed: it reverted;
    -- replaced: the nonce was used by a transaction that is none of this job's attempts.
    status      TEXT NOT NULL CHECK (status IN ('open', 'mined', 'failed', 'replaced')),
    tx_hash     TEXT,
    gas_used    INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT chain_job_nonce UNIQUE (sender, nonce)
);
CREATE INDEX chain_job_open ON chain_job (status, kind, event_id);

-- Every signed attempt of a job, kept whole so that it can be sent again exactly.
CREATE TABLE chain_tx (
    tx_hash       TEXT PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES chain_job (job_id),
    max_fee       TEXT NOT NULL,
    priority_fee  TEXT NOT NULL,
    raw           TEXT NOT NULL,
    sent_at       INTEGER NOT NULL
);
CREATE INDEX chain_tx_job ON chain_tx (job_id);

-- Claims gain the `voucher` status and the job that mints them (the old tx_hash of a pending
-- claim meant "in flight"; jobs say that now, so a pending claim's tx_hash is dropped).
CREATE TABLE claim_next (
    claim_id    INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT NOT NULL REFERENCES event (event_id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'minted', 'recorded', 'voucher')),
    token_id    TEXT,
    tx_hash     TEXT,
    job_id      INTEGER REFERENCES chain_job (job_id),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CONSTRAINT claim_event_address UNIQUE (event_id, address)
);
INSERT INTO claim_next (claim_id, event_id, address, status, token_id, tx_hash, created_at, updated_at)
    SELECT claim_id, event_id, address, status, token_id,
           CASE WHEN status = 'minted' THEN tx_hash END, created_at, updated_at
    FROM claim;
DROP TABLE claim;
ALTER TABLE claim_next RENAME TO claim;
CREATE INDEX claim_pending ON claim (status, job_id, event_id);
CREATE UNIQUE INDEX claim_token_id ON claim (token_id);
CREATE INDEX claim_job ON claim (job_id);
