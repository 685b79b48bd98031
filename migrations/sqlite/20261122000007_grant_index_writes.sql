-- A join finds its session's grant on its ticket by the whole key, so that an ERC-20 ticket's
-- grants (all with the same contract and no token id) are not walked one by one: with the
-- ticket's index, a join of a fungible-gated screening read every live grant of the event.
DROP INDEX grant_session;
CREATE INDEX grant_session ON grant_ (session_id, event_id, holder, contract, token_id)
    WHERE revoked_at IS NULL;

-- Only revoked grants are looked up by when they were revoked: live ones stay out of that
-- index, and a join's insert writes one index fewer.
DROP INDEX grant_revoked_at;
CREATE INDEX grant_revoked_at ON grant_ (revoked_at) WHERE revoked_at IS NOT NULL;
