-- Issue 31: authentication events as webhooks. Each event is written in the transaction of the change it
-- announces (an outbox) and delivered after commit, at least once, with the same id on every attempt.
-- `locked_until` is the lease of the instance delivering it (a row whose deliverer died is claimed again
-- once it passes); `retry_from` starts the retry period (`webhooks retry` starts a new one).
CREATE TABLE webhook_outbox (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retry_from BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    locked_until BIGINT NOT NULL DEFAULT 0,
    delivered_at BIGINT,
    failed_at BIGINT,
    last_error TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
CREATE INDEX webhook_outbox_created ON webhook_outbox (created_at);
