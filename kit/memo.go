package kit

import (
	"sync"
	"time"
)

// Memo remembers values until their own expiry, at most max of them: for work
// whose answer stays true for a while (a verified token, a product's price).
// When full, expired entries go first, then arbitrary ones (map order) down to
// three quarters of max, so a burst of new keys costs one sweep, not one each.
type Memo[K comparable, V any] struct {
	max int

	mu      sync.Mutex
	entries map[K]memoEntry[V]
}

type memoEntry[V any] struct {
	value V
	until time.Time
}

// NewMemo returns an empty Memo holding at most max entries.
func NewMemo[K comparable, V any](max int) *Memo[K, V] {
	return &Memo[K, V]{max: max, entries: map[K]memoEntry[V]{}}
}

// Get returns the value for k if it is still valid at now.
func (m *Memo[K, V]) Get(k K, now time.Time) (V, bool) {
	m.mu.Lock()
	e, ok := m.entries[k]
	m.mu.Unlock()
	if !ok || !now.Before(e.until) {
		var zero V
		return zero, false
	}
	return e.value, true
}

// Put remembers v for k until until.
func (m *Memo[K, V]) Put(k K, v V, until, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) >= m.max {
		for key, e := range m.entries {
			if !now.Before(e.until) {
				delete(m.entries, key)
			}
		}
		for key := range m.entries {
			if len(m.entries) < m.max*3/4 {
				break
			}
			delete(m.entries, key)
		}
	}
	m.entries[k] = memoEntry[V]{value: v, until: until}
}

// Len is the number of entries held, valid or not.
func (m *Memo[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}
