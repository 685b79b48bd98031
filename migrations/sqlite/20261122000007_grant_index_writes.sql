-- A join finds its session's grant on its ticket by the whole key, so that an ERC-20 ticket's
-- grants (all with the same contract and no token id) are not walked one by one: with the
-- ticket's index, a join of a fungible-gated screening read every live grant of the event.
-- The key starts with the wallet, so the same index finds the grants of a wallet that holds
-- its own ticket when that ticket moves; only grants through a vault need one by holder.
DROP INDEX grant_session;
CREATE INDEX grant_wallet ON grant_ (wallet, event_id, session_id, holder, contract, token_id)
    WHERE revoked_at IS NULL;
DROP INDEX grant_holder;
CREATE INDEX grant_vault ON grant_ (holder) WHERE revoked_at IS NULL AND holder <> wallet;

-- Only revoked grants are looked up by when they were revoked: live ones stay out of that
-- index, and a join's insert writes one index fewer.
DROP INDEX grant_revoked_at;
CREATE INDEX grant_revoked_at ON grant_ (revoked_at) WHERE revoked_at IS NOT NULL;
