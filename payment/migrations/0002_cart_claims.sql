-- +goose Up

-- Idempotency keys compare byte for byte: 'order-1' and 'Order-1' are two keys
-- (the default ascii collation folded case, so one replayed the other's order).
ALTER TABLE idempotency_keys MODIFY idem_key VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;

-- One checkout in flight per cart, whatever its Idempotency-Key: the primary key
-- is the lock, shared by every payment replica. state 'active' while the
-- checkout runs; 'ordered' once its order is recorded and until the cart service
-- has taken the ordered lines out of the cart (then the row is deleted).
CREATE TABLE IF NOT EXISTS cart_claims (
  user_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  claim_id CHAR(24) CHARACTER SET ascii NOT NULL,
  state VARCHAR(16) CHARACTER SET ascii NOT NULL,
  order_id VARCHAR(40) CHARACTER SET ascii NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
