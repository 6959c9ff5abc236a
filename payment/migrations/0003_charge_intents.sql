-- +goose Up

-- The gateway's idempotency reference belongs to the cart claim: made with the
-- claim, kept when a stale claim is taken over, so every attempt to pay for
-- that claim charges under one reference and the gateway merges them.
ALTER TABLE cart_claims ADD COLUMN charge_ref VARCHAR(40) CHARACTER SET ascii NULL;

-- A charge about to be made, committed before the gateway is called: the
-- priced order it pays for (order_json), and what became of it. 'pending'
-- until resolved, exactly once, to 'ordered' (charged, order recorded),
-- 'failed' (nothing charged) or 'refunding' (charged, no order) and then
-- 'refunded'. Checkouts, the reconciler and stale-claim takeovers move it only
-- with a conditional UPDATE on its state, so two of them never both act.
CREATE TABLE IF NOT EXISTS charge_intents (
  id CHAR(24) CHARACTER SET ascii NOT NULL,
  reference VARCHAR(40) CHARACTER SET ascii NOT NULL,
  user_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  claim_id CHAR(24) CHARACTER SET ascii NOT NULL,
  idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  order_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  amount_cents BIGINT NOT NULL,
  currency CHAR(3) CHARACTER SET ascii NOT NULL,
  order_json MEDIUMTEXT NOT NULL,
  state VARCHAR(16) CHARACTER SET ascii NOT NULL,
  charge_id VARCHAR(64) CHARACTER SET ascii NULL,
  refund_attempts INT NOT NULL DEFAULT 0,
  last_error VARCHAR(255) NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY charge_intents_order (order_id),
  KEY charge_intents_state (state, updated_at),
  KEY charge_intents_claim (claim_id, state),
  KEY charge_intents_reference (reference)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
