package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"github.com/roboshop-go/roboshop/kit"
	"go.opentelemetry.io/otel/trace"
)

// redisStore keeps each cart as a hash "cart:<owner>" of SKU -> JSON line,
// and in the same hash the markers of the keyed writes applied to it
// ("op:<key digest>" for a client's Idempotency-Key, "settle:<order id>" for
// payment's settlements; SKUs never hold a colon): a marker lives and dies
// with the cart it guards, so Redis's eviction (volatile-lru, under
// maxmemory) can never drop a marker and keep its cart, and a retry can never
// apply twice. All updates are Lua scripts, so each runs atomically inside Redis.
type redisStore struct {
	rdb *redis.Client
	// fence is how long after it is sent a write may still be applied. It is
	// half the client's read timeout: a write Redis reaches later (it was
	// paused, say) is dropped, because its client has answered 503 by then.
	fence time.Duration
}

const (
	redisReadTimeout = time.Second
	// keyMemory is how long an Idempotency-Key of a cart write is remembered.
	keyMemory = 24 * time.Hour
	// settleMemory is how long a settled order is remembered, so a repeated
	// settlement never takes the same quantities out twice.
	settleMemory = 7 * 24 * time.Hour
	// maxMarkers bounds the markers a cart keeps (nginx allows a cart a few
	// writes a second): past it the oldest is forgotten first.
	maxMarkers = 256
)

// openRedisStore connects to url; each command is a span of tp's (nil: none).
func openRedisStore(url string, tp trace.TracerProvider) (*redisStore, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 2*time.Second, redisReadTimeout, redisReadTimeout
	// Never resend: after a read timeout a write may still run in Redis, and a
	// resend would apply it twice. A failed call is the caller's 503.
	opt.MaxRetries = -1
	rdb := redis.NewClient(opt)
	if tp != nil {
		if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false)); err != nil {
			return nil, err
		}
	}
	return &redisStore{rdb: rdb, fence: redisReadTimeout / 2}, nil
}

func (s *redisStore) Close() error { return s.rdb.Close() }

// poolMetrics measures the client's connection pool as go-redis counts it:
// connections open and idle, and the waits that found one, did not, or
// timed out.
func (s *redisStore) poolMetrics() []prometheus.Collector {
	stats := s.rdb.PoolStats
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "redis_pool_connections_open", Help: "Connections to Redis open now."},
			func() float64 { return float64(stats().TotalConns) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "redis_pool_connections_idle", Help: "Connections to Redis idle now."},
			func() float64 { return float64(stats().IdleConns) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "redis_pool_hits_total", Help: "Commands that found an idle connection."},
			func() float64 { return float64(stats().Hits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "redis_pool_misses_total", Help: "Commands that had to open a connection."},
			func() float64 { return float64(stats().Misses) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "redis_pool_timeouts_total", Help: "Commands that waited for a connection in vain."},
			func() float64 { return float64(stats().Timeouts) }),
	}
}

func (s *redisStore) Ping(ctx context.Context) error { return unavailable(s.rdb.Ping(ctx).Err()) }

func cartKey(owner string) string { return "cart:" + owner }

// markerField is the field of w.Owner's cart that remembers w's key; "" (no
// key) disables it.
func markerField(w write) string {
	if w.Key == "" {
		return ""
	}
	if w.Space == spaceSettle {
		return spaceSettle + ":" + w.Key
	}
	sum := sha256.Sum256([]byte(w.Key))
	return spaceClient + ":" + hex.EncodeToString(sum[:16])
}

// isMarker tells a marker field from a line's (a SKU has no colon).
func isMarker(field string) bool { return strings.Contains(field, ":") }

func (s *redisStore) Cart(ctx context.Context, owner string) ([]Line, error) {
	fields, err := s.rdb.HGetAll(ctx, cartKey(owner)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	lines := make([]Line, 0, len(fields))
	for sku, raw := range fields {
		if isMarker(sku) {
			continue
		}
		l, err := parseLine(owner, sku, raw)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, nil
}

func parseLine(owner, sku, raw string) (Line, error) {
	var l Line
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return Line{}, fmt.Errorf("cart %s line %s: %w", owner, sku, err)
	}
	l.SKU = sku
	return l, nil
}

// linesOf reads the lines a write script answers (sku, line, sku, line, ...;
// no markers), never nil.
func linesOf(owner string, flat any) ([]Line, error) {
	fields, _ := flat.([]any)
	lines := make([]Line, 0, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		sku, _ := fields[i].(string)
		raw, _ := fields[i+1].(string)
		l, err := parseLine(owner, sku, raw)
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// writeGuard starts every write script. KEYS[1] is the cart. ARGV[1] is the
// deadline on Redis's clock (unix ms), ARGV[2] the request's fingerprint,
// ARGV[3] how long the marker lives (ms), ARGV[4] the cart's idle TTL (ms),
// ARGV[5] the marker's field in the cart (empty for none); a script's own
// arguments follow from ARGV[6]. A marker is "<fingerprint>|<expiry, unix
// ms>". lines() counts the cart's lines; done() forgets expired markers (and
// the oldest past maxMarkers), marks the key used, refreshes the TTL and
// answers {result, the cart's lines as they now are}: the write's answer
// needs no second read.
var writeGuard = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(ARGV[1]) then return 'late' end
local marker = ARGV[5]
local function isMarker(field) return string.find(field, ':', 1, true) ~= nil end
if marker ~= '' then
  local seen = redis.call('HGET', KEYS[1], marker)
  if seen then
    local hash, expires = string.match(seen, '^(.*)|(%d+)$')
    if expires and tonumber(expires) > now then
      if hash == ARGV[2] then return 'replayed' end
      return 'key_reused'
    end
  end
end
local function lines()
  local n = 0
  for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
    if not isMarker(field) then n = n + 1 end
  end
  return n
end
local function done(result)
  local all = redis.call('HGETALL', KEYS[1])
  local kept = {}
  local cart = {}
  for i = 1, #all, 2 do
    if isMarker(all[i]) then
      local expires = tonumber(string.match(all[i + 1], '|(%d+)$') or '0')
      if expires <= now then
        redis.call('HDEL', KEYS[1], all[i])
      else
        table.insert(kept, {all[i], expires})
      end
    else
      table.insert(cart, all[i])
      table.insert(cart, all[i + 1])
    end
  end
  if marker ~= '' and #kept >= ` + strconv.Itoa(maxMarkers) + ` then
    table.sort(kept, function(a, b) return a[2] < b[2] end)
    for i = 1, #kept - ` + strconv.Itoa(maxMarkers) + ` + 1 do redis.call('HDEL', KEYS[1], kept[i][1]) end
  end
  if marker ~= '' then redis.call('HSET', KEYS[1], marker, ARGV[2] .. '|' .. (now + tonumber(ARGV[3]))) end
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
  return {result, cart}
end
`

// upsertScript adds to (mode "add") or sets (mode "set") a line's quantity.
// ARGV[6..] sku, qty, name, price, now, mode, maxQty, maxLines, stock (the
// most the line may hold).
var upsertScript = redis.NewScript(writeGuard + `
local raw = redis.call('HGET', KEYS[1], ARGV[6])
local qty = tonumber(ARGV[7])
local line
if raw then
  line = cjson.decode(raw)
  if ARGV[11] == 'add' then qty = line.qty + qty end
else
  if lines() >= tonumber(ARGV[13]) then return 'line_limit' end
  line = {added = tonumber(ARGV[10])}
end
if qty > tonumber(ARGV[12]) then return 'qty_limit' end
if qty > tonumber(ARGV[14]) then return 'stock_limit' end
line.qty = qty
line.name = ARGV[8]
line.unit_price_cents = tonumber(ARGV[9])
redis.call('HSET', KEYS[1], ARGV[6], cjson.encode(line))
return done('ok')
`)

// removeScript deletes a line. ARGV[6] sku.
var removeScript = redis.NewScript(writeGuard + `
if redis.call('HDEL', KEYS[1], ARGV[6]) == 0 then return 'no_line' end
return done('ok')
`)

// clearScript deletes every line and keeps the markers: a retried write from
// before the clear is still known.
var clearScript = redis.NewScript(writeGuard + `
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if not isMarker(field) then redis.call('HDEL', KEYS[1], field) end
end
return done('ok')
`)

// mergeScript folds KEYS[2]'s lines into KEYS[1] and deletes KEYS[2].
// ARGV[6..] maxQty, maxLines, then sku, stock pairs (the most of each SKU
// a line may hold). Answers the SKUs that did not fit or were cut to stock.
var mergeScript = redis.NewScript(writeGuard + `
local from = redis.call('HGETALL', KEYS[2])
local skipped = {}
local maxQty, maxLines = tonumber(ARGV[6]), tonumber(ARGV[7])
local stock = {}
for i = 8, #ARGV, 2 do stock[ARGV[i]] = tonumber(ARGV[i + 1]) end
local count = lines()
for i = 1, #from, 2 do
  local sku = from[i]
  if not isMarker(sku) then
    local theirs = cjson.decode(from[i + 1])
    local most = math.min(maxQty, stock[sku] or maxQty)
    local raw = redis.call('HGET', KEYS[1], sku)
    local line = theirs
    if raw then
      line = cjson.decode(raw)
      line.qty = line.qty + theirs.qty
    end
    if not raw and count >= maxLines then
      table.insert(skipped, sku)
    elseif line.qty > most and most < 1 then
      table.insert(skipped, sku)
    else
      if line.qty > most then
        line.qty = most
        if stock[sku] and stock[sku] < maxQty then table.insert(skipped, sku) end
      end
      redis.call('HSET', KEYS[1], sku, cjson.encode(line))
      if not raw then count = count + 1 end
    end
  end
end
redis.call('DEL', KEYS[2])
return done(skipped)
`)

// settleScript takes ordered quantities out of the cart. ARGV[6..] sku, qty pairs.
var settleScript = redis.NewScript(writeGuard + `
for i = 6, #ARGV, 2 do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if raw then
    local line = cjson.decode(raw)
    line.qty = line.qty - tonumber(ARGV[i + 1])
    if line.qty > 0 then
      redis.call('HSET', KEYS[1], ARGV[i], cjson.encode(line))
    else
      redis.call('HDEL', KEYS[1], ARGV[i])
    end
  end
end
return done('ok')
`)

// runWrite runs a write script under the guard and maps its answer: the
// script's own result and the cart's lines after it, or replayed, or an error.
func (s *redisStore) runWrite(ctx context.Context, script *redis.Script, w write, marker time.Duration,
	extraKeys []string, args ...any) (result any, lines []Line, replayed bool, err error) {
	keys := append([]string{cartKey(w.Owner)}, extraKeys...)
	deadline := time.Now().Add(s.fence).UnixMilli()
	argv := append([]any{deadline, w.Hash, marker.Milliseconds(), w.TTL.Milliseconds(), markerField(w)}, args...)
	res, err := script.Run(ctx, s.rdb, keys, argv...).Result()
	if err != nil {
		return nil, nil, false, unavailable(err)
	}
	switch res {
	case "replayed":
		return nil, nil, true, nil
	case "late":
		return nil, nil, false, fmt.Errorf("redis ran the write after its deadline; dropped: %w", kit.ErrUnavailable)
	case "key_reused":
		return nil, nil, false, errKeyReused
	case "qty_limit":
		return nil, nil, false, errQtyLimit
	case "stock_limit":
		return nil, nil, false, errStock
	case "line_limit":
		return nil, nil, false, errLineLimit
	case "no_line":
		return nil, nil, false, errNoLine
	}
	done, ok := res.([]any)
	if !ok || len(done) != 2 {
		return nil, nil, false, fmt.Errorf("redis: a write script answered %v", res)
	}
	lines, err = linesOf(w.Owner, done[1])
	return done[0], lines, false, err
}

func (s *redisStore) Add(ctx context.Context, w write, l Line) ([]Line, bool, error) {
	return s.upsert(ctx, w, l, "add")
}

func (s *redisStore) Set(ctx context.Context, w write, l Line) ([]Line, bool, error) {
	return s.upsert(ctx, w, l, "set")
}

func (s *redisStore) upsert(ctx context.Context, w write, l Line, mode string) ([]Line, bool, error) {
	most := maxQty
	if l.Most > 0 && l.Most < most {
		most = l.Most
	}
	_, lines, replayed, err := s.runWrite(ctx, upsertScript, w, keyMemory, nil, l.SKU, l.Qty, l.Name, l.UnitPriceCents,
		time.Now().UnixMilli(), mode, maxQty, maxLines, most)
	return lines, replayed, err
}

func (s *redisStore) Remove(ctx context.Context, w write, sku string) ([]Line, bool, error) {
	_, lines, replayed, err := s.runWrite(ctx, removeScript, w, keyMemory, nil, sku)
	return lines, replayed, err
}

func (s *redisStore) Clear(ctx context.Context, w write) (bool, error) {
	_, _, replayed, err := s.runWrite(ctx, clearScript, w, keyMemory, nil)
	return replayed, err
}

func (s *redisStore) Merge(ctx context.Context, w write, from string, most map[string]int) ([]Line, []string, bool, error) {
	args := []any{maxQty, maxLines}
	for sku, n := range most {
		args = append(args, sku, n)
	}
	res, lines, replayed, err := s.runWrite(ctx, mergeScript, w, keyMemory, []string{cartKey(from)}, args...)
	if err != nil || replayed {
		return nil, nil, replayed, err
	}
	list, _ := res.([]any)
	skipped := make([]string, 0, len(list))
	for _, v := range list {
		if sku, ok := v.(string); ok {
			skipped = append(skipped, sku)
		}
	}
	return lines, skipped, false, nil
}

func (s *redisStore) Settle(ctx context.Context, w write, ordered []Line) ([]Line, bool, error) {
	args := make([]any, 0, 2*len(ordered))
	for _, l := range ordered {
		args = append(args, l.SKU, strconv.Itoa(l.Qty))
	}
	_, lines, replayed, err := s.runWrite(ctx, settleScript, w, settleMemory, nil, args...)
	return lines, replayed, err
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
	// A full Redis ("OOM": maxmemory with nothing left to evict) wrote nothing
	// either: try later.
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) || strings.HasPrefix(err.Error(), "OOM ") {
		return fmt.Errorf("redis: %w: %w", kit.ErrUnavailable, err)
	}
	return fmt.Errorf("redis: %w", err)
}
