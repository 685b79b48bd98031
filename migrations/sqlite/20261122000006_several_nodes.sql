-- Several nodes on one database.

-- At most one newest (unretired) key per purpose: when several nodes start on an empty
-- database at once, one key of each purpose is created and the others' inserts do nothing.
CREATE UNIQUE INDEX token_key_newest ON token_key (purpose) WHERE retires_at IS NULL;

-- Work that one node at a time does (the minter): the node holding an unexpired lease does
-- it, renewing as it goes; when it stops renewing, another node takes the lease over.
CREATE TABLE lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
