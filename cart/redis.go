package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/roboshop-go/roboshop/kit"
)

// redisStore keeps each cart as a hash "cart:<owner>" of SKU -> JSON line. All
// updates are Lua scripts, so each runs atomically inside Redis.
type redisStore struct {
	rdb *redis.Client
	ttl time.Duration
}

func openRedisStore(url string, ttl time.Duration) (*redisStore, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, time.Second, time.Second
	opt.MaxRetries = 1
	return &redisStore{rdb: redis.NewClient(opt), ttl: ttl}, nil
}

func (s *redisStore) Close() error { return s.rdb.Close() }

func (s *redisStore) Ping(ctx context.Context) error { return unavailable(s.rdb.Ping(ctx).Err()) }

func cartKey(owner string) string { return "cart:" + owner }

func (s *redisStore) Cart(ctx context.Context, owner string) ([]Line, error) {
	fields, err := s.rdb.HGetAll(ctx, cartKey(owner)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	lines := make([]Line, 0, len(fields))
	for sku, raw := range fields {
		var l Line
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("cart %s line %s: %w", owner, sku, err)
		}
		l.SKU = sku
		lines = append(lines, l)
	}
	return lines, nil
}

// upsertScript adds to (mode "add") or sets (mode "set") a line's quantity.
// KEYS[1] cart; ARGV sku, qty, name, price, now, mode, maxQty, maxLines, ttl.
var upsertScript = redis.NewScript(`
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local qty = tonumber(ARGV[2])
local line
if raw then
  line = cjson.decode(raw)
  if ARGV[6] == 'add' then qty = line.qty + qty end
else
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[8]) then return 'line_limit' end
  line = {added = tonumber(ARGV[5])}
end
if qty > tonumber(ARGV[7]) then return 'qty_limit' end
line.qty = qty
line.name = ARGV[3]
line.unit_price_cents = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(line))
redis.call('PEXPIRE', KEYS[1], ARGV[9])
return 'ok'
`)

func (s *redisStore) Add(ctx context.Context, owner string, l Line) error {
	return s.upsert(ctx, owner, l, "add")
}

func (s *redisStore) Set(ctx context.Context, owner string, l Line) error {
	return s.upsert(ctx, owner, l, "set")
}

func (s *redisStore) upsert(ctx context.Context, owner string, l Line, mode string) error {
	res, err := upsertScript.Run(ctx, s.rdb, []string{cartKey(owner)}, l.SKU, l.Qty, l.Name, l.UnitPriceCents,
		time.Now().UnixMilli(), mode, maxQty, maxLines, s.ttl.Milliseconds()).Text()
	if err != nil {
		return unavailable(err)
	}
	switch res {
	case "ok":
		return nil
	case "qty_limit":
		return errQtyLimit
	case "line_limit":
		return errLineLimit
	}
	return fmt.Errorf("upsert script answered %q", res)
}

// removeScript deletes a line and refreshes the TTL while the cart still exists.
var removeScript = redis.NewScript(`
local n = redis.call('HDEL', KEYS[1], ARGV[1])
if n == 1 and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return n
`)

func (s *redisStore) Remove(ctx context.Context, owner, sku string) error {
	n, err := removeScript.Run(ctx, s.rdb, []string{cartKey(owner)}, sku, s.ttl.Milliseconds()).Int()
	if err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return errNoLine
	}
	return nil
}

func (s *redisStore) Clear(ctx context.Context, owner string) error {
	return unavailable(s.rdb.Del(ctx, cartKey(owner)).Err())
}

// mergeScript folds KEYS[2] into KEYS[1] and deletes KEYS[2].
// ARGV maxQty, maxLines, ttl. Returns the SKUs that did not fit.
var mergeScript = redis.NewScript(`
local from = redis.call('HGETALL', KEYS[2])
local skipped = {}
local maxQty, maxLines = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #from, 2 do
  local sku, theirs = from[i], cjson.decode(from[i + 1])
  local raw = redis.call('HGET', KEYS[1], sku)
  if raw then
    local ours = cjson.decode(raw)
    ours.qty = math.min(ours.qty + theirs.qty, maxQty)
    redis.call('HSET', KEYS[1], sku, cjson.encode(ours))
  elseif redis.call('HLEN', KEYS[1]) < maxLines then
    redis.call('HSET', KEYS[1], sku, from[i + 1])
  else
    table.insert(skipped, sku)
  end
end
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return skipped
`)

func (s *redisStore) Merge(ctx context.Context, into, from string) ([]string, error) {
	skipped, err := mergeScript.Run(ctx, s.rdb, []string{cartKey(into), cartKey(from)},
		maxQty, maxLines, s.ttl.Milliseconds()).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, unavailable(err)
	}
	return skipped, nil
}

// TTL returns the remaining idle time of a cart (for tests and debugging).
func (s *redisStore) TTL(ctx context.Context, owner string) (time.Duration, error) {
	d, err := s.rdb.PTTL(ctx, cartKey(owner)).Result()
	return d, unavailable(err)
}

// unavailable marks connection-level Redis failures as kit.ErrUnavailable (503).
func unavailable(err error) error {
	if err == nil {
		return nil
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) {
		return fmt.Errorf("redis: %w: %w", kit.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %w", err)
}
