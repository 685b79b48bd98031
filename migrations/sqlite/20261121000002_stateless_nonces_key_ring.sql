-- Sign-in costs one write: nonces are MAC-signed by the service (nothing stored at issue) and
-- recorded only when a login uses them; sessions are recorded only when they end early.

DROP TABLE nonce;
-- Nonces already used by a login, kept until they would have expired anyway.
CREATE TABLE used_nonce (
    nonce       TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX used_nonce_expires_at ON used_nonce (expires_at);

-- Sessions ended by logout before their expiry; every node follows this table.
CREATE TABLE revoked_session (
    session_id  TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL
);
CREATE INDEX revoked_session_revoked_at ON revoked_session (revoked_at);
INSERT INTO revoked_session (session_id, expires_at, revoked_at)
    SELECT session_id, expires_at, revoked_at FROM session WHERE revoked_at IS NOT NULL;
DROP TABLE session;

-- Token keys of every purpose: `session` (Ed25519, PKCS#8 PEM), `stream` (HMAC-SHA256, hex)
-- and `nonce` (HMAC-SHA256, hex). The newest unretired key of a purpose signs; every key
-- verifies until `retires_at`, set when a newer key replaces it (`marquee keys rotate`).
CREATE TABLE token_key (
    kid         TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('session', 'stream', 'nonce')),
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    retires_at  INTEGER
);
INSERT INTO token_key (kid, purpose, secret, created_at)
    SELECT kid, 'session', private_pem, created_at FROM signing_key;
DROP TABLE signing_key;
