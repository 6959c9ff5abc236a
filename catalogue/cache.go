package main

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// source is what the cache loads from the datastore.
type source interface {
	AllProducts(ctx context.Context) ([]Product, error)
	Categories(ctx context.Context) ([]Category, error)
}

// snapshot is the whole catalogue in memory, indexed for the API's reads.
type snapshot struct {
	loaded     time.Time
	orders     map[string][]int // every product in each order: "" (by SKU) and sortOrders
	bySKU      map[string]int
	category   []string
	featured   []bool
	text       []string          // lower-cased name and description, for search
	encoded    []json.RawMessage // each product's JSON, encoded once per load
	categories []Category
}

// cachedStore answers every read from an in-memory snapshot of the catalogue:
// a few dozen products that only change when someone edits the datastore.
// A snapshot older than ttl is refreshed in the background while the old one
// keeps answering, so reads never wait for the datastore, and a datastore
// outage after the first load does not take the catalogue down.
type cachedStore struct {
	src source
	ttl time.Duration
	// seeded, when set, must be nil before anything is loaded: a snapshot taken
	// while the seed is still being written would serve a partial catalogue for
	// a whole ttl. Until then reads fail as unavailable (503).
	seeded     func() error
	current    atomic.Pointer[snapshot]
	refreshing atomic.Bool
	loadMu     sync.Mutex // one synchronous first load at a time
}

func newCachedStore(src source, ttl time.Duration) *cachedStore {
	return &cachedStore{src: src, ttl: ttl}
}

func (c *cachedStore) snapshot(ctx context.Context) (*snapshot, error) {
	if s := c.current.Load(); s != nil {
		if time.Since(s.loaded) > c.ttl && c.refreshing.CompareAndSwap(false, true) {
			go func() {
				defer c.refreshing.Store(false)
				rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = c.load(rctx) // on failure the old snapshot stays; the next read retries
			}()
		}
		return s, nil
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	if s := c.current.Load(); s != nil {
		return s, nil
	}
	return c.load(ctx)
}

func (c *cachedStore) load(ctx context.Context) (*snapshot, error) {
	if c.seeded != nil {
		if err := c.seeded(); err != nil {
			return nil, err
		}
	}
	products, err := c.src.AllProducts(ctx)
	if err != nil {
		return nil, err
	}
	cats, err := c.src.Categories(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(products, func(i, j int) bool { return products[i].SKU < products[j].SKU })
	n := len(products)
	s := &snapshot{loaded: time.Now(), categories: cats, bySKU: make(map[string]int, n), category: make([]string, n),
		featured: make([]bool, n), text: make([]string, n), encoded: make([]json.RawMessage, n)}
	bySKU := make([]int, n)
	for i, p := range products {
		raw, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		s.encoded[i] = raw
		bySKU[i] = i
		s.bySKU[p.SKU] = i
		s.category[i], s.featured[i] = p.Category, p.Featured
		s.text[i] = strings.ToLower(p.Name + "\n" + p.Description)
	}
	// Ties keep SKU order, so every order is total and pages never overlap.
	sorted := func(less func(a, b Product) int) []int {
		order := slices.Clone(bySKU)
		slices.SortStableFunc(order, func(a, b int) int { return less(products[a], products[b]) })
		return order
	}
	s.orders = map[string][]int{
		"":       bySKU,
		"name":   sorted(func(a, b Product) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) }),
		"price":  sorted(func(a, b Product) int { return cmp.Compare(a.PriceCents, b.PriceCents) }),
		"-price": sorted(func(a, b Product) int { return cmp.Compare(b.PriceCents, a.PriceCents) }),
	}
	c.current.Store(s)
	return s, nil
}

func (c *cachedStore) Categories(ctx context.Context) ([]Category, error) {
	s, err := c.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s.categories, nil
}

func (c *cachedStore) Product(ctx context.Context, sku string) (json.RawMessage, error) {
	s, err := c.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	i, ok := s.bySKU[sku]
	if !ok {
		return nil, errNotFound
	}
	return s.encoded[i], nil
}

// Products filters by SKUs, by category, by the featured mark and by a
// case-insensitive literal substring of name or description, in SKU order or
// q.Sort's. A SKU not sold is left out, as a filter leaves it out.
func (c *cachedStore) Products(ctx context.Context, q productQuery) ([]json.RawMessage, int64, error) {
	s, err := c.snapshot(ctx)
	if err != nil {
		return nil, 0, err
	}
	candidates := s.orders[q.Sort]
	var wanted map[int]bool
	if len(q.SKUs) > 0 {
		wanted = make(map[int]bool, len(q.SKUs))
		for _, sku := range q.SKUs {
			if i, ok := s.bySKU[sku]; ok {
				wanted[i] = true
			}
		}
	}
	needle := strings.ToLower(q.Search)
	matches := make([]int, 0, len(candidates))
	for _, i := range candidates {
		if (wanted == nil || wanted[i]) && (q.Category == "" || s.category[i] == q.Category) && (!q.Featured || s.featured[i]) &&
			(needle == "" || strings.Contains(s.text[i], needle)) {
			matches = append(matches, i)
		}
	}
	items := []json.RawMessage{}
	for k := q.Offset; k < len(matches) && k < q.Offset+q.Limit; k++ {
		items = append(items, s.encoded[matches[k]])
	}
	return items, int64(len(matches)), nil
}
