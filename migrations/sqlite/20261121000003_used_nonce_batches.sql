-- Used nonces carry the random tag of the batch that recorded them, so that a batch's writer
-- learns which of its nonces were new from a count, and asks for rows only after a replay.
-- One B-tree keyed by the nonce is all lookups need: no rowid table beside it.
CREATE TABLE used_nonce_new (
    nonce       TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL,
    batch       INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO used_nonce_new (nonce, expires_at, batch) SELECT nonce, expires_at, 0 FROM used_nonce;
DROP TABLE used_nonce;
ALTER TABLE used_nonce_new RENAME TO used_nonce;
CREATE INDEX used_nonce_expires_at ON used_nonce (expires_at);
