-- Orders, their lines, payments and idempotency records. Money is BIGINT cents.
-- Runs on MySQL 8.4 and MariaDB 10.11: no engine-specific syntax. IF NOT EXISTS:
-- databases made by the runner before goose have these tables already.

-- +goose Up
CREATE TABLE IF NOT EXISTS orders (
  id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  user_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  status VARCHAR(16) CHARACTER SET ascii NOT NULL,
  subtotal_cents BIGINT NOT NULL,
  shipping_cents BIGINT NOT NULL,
  total_cents BIGINT NOT NULL,
  currency CHAR(3) CHARACTER SET ascii NOT NULL,
  ship_name VARCHAR(100) NOT NULL,
  ship_line1 VARCHAR(200) NOT NULL,
  ship_line2 VARCHAR(200) NOT NULL,
  ship_city VARCHAR(100) NOT NULL,
  ship_postal_code VARCHAR(20) NOT NULL,
  ship_country CHAR(2) CHARACTER SET ascii NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  KEY orders_user_created (user_id, created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS order_lines (
  order_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  line_no INT NOT NULL,
  sku VARCHAR(32) CHARACTER SET ascii NOT NULL,
  name VARCHAR(200) NOT NULL,
  qty INT NOT NULL,
  unit_price_cents BIGINT NOT NULL,
  line_total_cents BIGINT NOT NULL,
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT order_lines_order FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Only the brand and the last four digits of a card are ever stored.
CREATE TABLE IF NOT EXISTS payments (
  id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  order_id VARCHAR(40) CHARACTER SET ascii NOT NULL,
  amount_cents BIGINT NOT NULL,
  currency CHAR(3) CHARACTER SET ascii NOT NULL,
  card_brand VARCHAR(16) CHARACTER SET ascii NOT NULL,
  card_last4 CHAR(4) CHARACTER SET ascii NOT NULL,
  status VARCHAR(16) CHARACTER SET ascii NOT NULL,
  created_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY payments_order (order_id),
  CONSTRAINT payments_order_fk FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per (user, Idempotency-Key): the primary key is what makes concurrent
-- duplicates lose, whatever their timing.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  user_id VARCHAR(64) CHARACTER SET ascii NOT NULL,
  idem_key VARCHAR(255) CHARACTER SET ascii NOT NULL,
  request_hash CHAR(64) CHARACTER SET ascii NOT NULL,
  state VARCHAR(16) CHARACTER SET ascii NOT NULL,
  response_status INT NULL,
  response_body MEDIUMTEXT NULL,
  order_id VARCHAR(40) CHARACTER SET ascii NULL,
  created_at DATETIME(6) NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (user_id, idem_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
