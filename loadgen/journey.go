package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Test cards the payment simulator knows.
const (
	cardApproved = "4242424242424242"
	cardDeclined = "4000000000000002"
)

var searchWords = []string{"robot", "drone", "arm", "lidar", "vacuum", "kit", "servo", "rover", "camera", "garden"}

// shopper is one virtual user: its own random source, and the identities it
// plays in turn (one unless -shoppers says more).
type shopper struct {
	cfg config
	rec *recorder
	rng *rand.Rand

	ids       []*identity
	*identity // the one this journey plays
	journeys  int
	skus      []string  // the catalogue, read once by the checkout journey
	due       time.Time // when the journey's first request was due (open loop)
}

// identity is one shopper as the shop sees it: an address (its client's) and
// an account, with its session.
type identity struct {
	n         int // its number among all shoppers: its address and account
	client    *http.Client
	userToken string
	email     string
}

type stepError struct{ step string }

func (e stepError) Error() string { return "step " + e.step + " failed" }

// call makes one request, records it under its endpoint and step, and decodes a
// 2xx JSON answer into dst. It returns the status (0 on transport failure).
func (s *shopper) call(ctx context.Context, step, method, path, endpoint string, body any, token string, headers map[string]string, dst any, expect ...int) (int, error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.cfg.Target.String()+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	if !s.due.IsZero() {
		start, s.due = s.due, time.Time{}
	}
	resp, err := s.client.Do(req)
	status := 0
	var payload []byte
	if err == nil {
		var readErr error
		payload, readErr = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
		if readErr != nil {
			status = 0 // the answer broke off: a failure, whatever the status line said
		}
	}
	d := time.Since(start)
	if ctx.Err() != nil {
		return status, ctx.Err() // the run ended mid-request: not a measurement
	}
	o := failed
	switch {
	case status >= 200 && status < 300:
		o = ok
	case status == http.StatusTooManyRequests:
		o = limited
	case containsInt(expect, status):
		o = expected
	}
	s.rec.record(method+" "+endpoint, step, status, o, d, start)
	if o == limited {
		// A shopper told to slow down waits as told (Retry-After, else a
		// second) rather than asking again at once: a tight retry loop would
		// spend the machine's CPU on 429s and measure nothing but that.
		wait := time.Second
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			wait = min(time.Duration(secs)*time.Second, 5*time.Second)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	if o != ok {
		return status, stepError{step}
	}
	if dst != nil {
		if err := json.Unmarshal(payload, dst); err != nil {
			return status, fmt.Errorf("%s: %w", step, err)
		}
	}
	return status, nil
}

func containsInt(list []int, n int) bool {
	for _, x := range list {
		if x == n {
			return true
		}
	}
	return false
}

func (s *shopper) think(ctx context.Context) {
	if s.cfg.Think <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(s.cfg.Think):
	}
}

type productPage struct {
	Items []struct {
		SKU string `json:"sku"`
	} `json:"items"`
}

// browse: the categories (home page), a category page, a search, a product.
// It returns a SKU seen.
func (s *shopper) browse(ctx context.Context) (string, error) {
	var cats struct {
		Items []struct {
			Slug string `json:"slug"`
		} `json:"items"`
	}
	if _, err := s.call(ctx, "browse/categories", "GET", "/api/catalogue/categories", "/api/catalogue/categories", nil, "", nil, &cats); err != nil {
		return "", err
	}
	if len(cats.Items) == 0 {
		return "", stepError{"browse/categories"}
	}
	s.think(ctx)
	slug := cats.Items[s.rng.IntN(len(cats.Items))].Slug
	var page productPage
	if _, err := s.call(ctx, "browse/category", "GET", "/api/catalogue/products?limit=12&category="+slug, "/api/catalogue/products?category=", nil, "", nil, &page); err != nil {
		return "", err
	}
	s.think(ctx)
	word := searchWords[s.rng.IntN(len(searchWords))]
	if _, err := s.call(ctx, "browse/search", "GET", "/api/catalogue/products?limit=12&q="+url.QueryEscape(word), "/api/catalogue/products?q=", nil, "", nil, nil); err != nil {
		return "", err
	}
	s.think(ctx)
	if len(page.Items) == 0 {
		return "", stepError{"browse/category"}
	}
	sku := page.Items[s.rng.IntN(len(page.Items))].SKU
	if _, err := s.call(ctx, "browse/product", "GET", "/api/catalogue/products/"+url.PathEscape(sku), "/api/catalogue/products/{sku}", nil, "", nil, nil); err != nil {
		return "", err
	}
	return sku, nil
}

type tokenBody struct {
	Token string `json:"token"`
}

// guest: browse, take a guest token (a new shopper each time), add to the cart, view it.
func (s *shopper) guest(ctx context.Context) (string, error) {
	sku, err := s.browse(ctx)
	if err != nil {
		return "", err
	}
	var g tokenBody
	if _, err := s.call(ctx, "guest/token", "POST", "/api/user/guest", "/api/user/guest", nil, "", nil, &g); err != nil {
		return "", err
	}
	s.think(ctx)
	if _, err := s.call(ctx, "guest/add-to-cart", "POST", "/api/cart/cart/items", "/api/cart/cart/items", map[string]any{"sku": sku, "qty": 1 + s.rng.IntN(2)}, g.Token, nil, nil); err != nil {
		return "", err
	}
	s.think(ctx)
	if _, err := s.call(ctx, "guest/view-cart", "GET", "/api/cart/cart", "/api/cart/cart", nil, g.Token, nil, nil); err != nil {
		return "", err
	}
	return g.Token, nil
}

// buyer: a guest journey, then register (first time) or log in, merge the
// guest cart, take the quote, check out at its total (one in ten with the
// decline card) and view the orders.
func (s *shopper) buyer(ctx context.Context) error {
	guestToken, err := s.guest(ctx)
	if err != nil {
		return err
	}
	s.think(ctx)
	if err := s.signIn(ctx, "buyer"); err != nil {
		return err
	}
	if _, err := s.call(ctx, "buyer/merge", "POST", "/api/cart/cart/merge", "/api/cart/cart/merge", map[string]string{"guest_token": guestToken}, s.userToken, nil, nil); err != nil {
		return err
	}
	s.think(ctx)
	// The total shown to the shopper, which the checkout must confirm.
	var quote struct {
		TotalCents int64 `json:"total_cents"`
	}
	if _, err := s.call(ctx, "buyer/quote", "GET", "/api/payment/checkout/quote", "/api/payment/checkout/quote", nil, s.userToken, nil, &quote); err != nil {
		return err
	}
	card := cardApproved
	if s.rng.IntN(10) == 0 {
		card = cardDeclined
	}
	body := checkoutBody(card, quote.TotalCents)
	if _, err := s.call(ctx, "buyer/checkout", "POST", "/api/payment/checkout", "/api/payment/checkout", body, s.userToken, s.checkoutKey(), nil, http.StatusPaymentRequired); err != nil {
		return err
	}
	s.think(ctx)
	_, err = s.call(ctx, "buyer/orders", "GET", "/api/payment/orders?limit=10", "/api/payment/orders", nil, s.userToken, nil, nil)
	return err
}

// checkout is the buyer's path the bench measures: a guest token, three
// products added, register (the first time; log in again only when the
// session ended), merge, the quote, a checkout with the approving card, the
// order history.
func (s *shopper) checkout(ctx context.Context) error {
	if len(s.skus) == 0 {
		var page productPage
		if _, err := s.call(ctx, "checkout/catalogue", "GET", "/api/catalogue/products?limit=100", "/api/catalogue/products", nil, "", nil, &page); err != nil {
			return err
		}
		for _, p := range page.Items {
			s.skus = append(s.skus, p.SKU)
		}
		if len(s.skus) == 0 {
			return stepError{"checkout/catalogue"}
		}
	}
	var g tokenBody
	if _, err := s.call(ctx, "checkout/guest", "POST", "/api/user/guest", "/api/user/guest", nil, "", nil, &g); err != nil {
		return err
	}
	// Three different products, one of each: every product has at least
	// two in stock, so no add is refused for the stock.
	for _, i := range s.rng.Perm(len(s.skus))[:min(3, len(s.skus))] {
		sku := s.skus[i]
		if _, err := s.call(ctx, "checkout/add", "POST", "/api/cart/cart/items", "/api/cart/cart/items", map[string]any{"sku": sku, "qty": 1}, g.Token, nil, nil); err != nil {
			return err
		}
	}
	// A returning shopper is still signed in (tokens last an hour): only the
	// first round, or one whose session ended, registers or logs in.
	if s.userToken == "" {
		if err := s.signIn(ctx, "checkout"); err != nil {
			return err
		}
	}
	if status, err := s.call(ctx, "checkout/merge", "POST", "/api/cart/cart/merge", "/api/cart/cart/merge", map[string]string{"guest_token": g.Token}, s.userToken, nil, nil); err != nil {
		if status == http.StatusUnauthorized {
			s.userToken = ""
		}
		return err
	}
	var quote struct {
		TotalCents int64 `json:"total_cents"`
	}
	if _, err := s.call(ctx, "checkout/quote", "GET", "/api/payment/checkout/quote", "/api/payment/checkout/quote", nil, s.userToken, nil, &quote); err != nil {
		return err
	}
	if _, err := s.call(ctx, "checkout/checkout", "POST", "/api/payment/checkout", "/api/payment/checkout", checkoutBody(cardApproved, quote.TotalCents), s.userToken, s.checkoutKey(), nil); err != nil {
		return err
	}
	_, err := s.call(ctx, "checkout/orders", "GET", "/api/payment/orders?limit=10", "/api/payment/orders", nil, s.userToken, nil, nil)
	return err
}

// signIn registers the shopper the first time and logs in afterwards,
// recording the step under prefix/register or prefix/login.
func (s *shopper) signIn(ctx context.Context, prefix string) error {
	var auth tokenBody
	if s.email == "" {
		email := fmt.Sprintf("lg-%d-%d-%d@example.com", s.cfg.Seed, s.n, time.Now().UnixNano())
		body := map[string]string{"email": email, "name": "Load Tester", "password": "load-test-password"}
		if _, err := s.call(ctx, prefix+"/register", "POST", "/api/user/register", "/api/user/register", body, "", nil, &auth); err != nil {
			return err
		}
		s.email = email
	} else {
		body := map[string]string{"email": s.email, "password": "load-test-password"}
		if _, err := s.call(ctx, prefix+"/login", "POST", "/api/user/login", "/api/user/login", body, "", nil, &auth); err != nil {
			return err
		}
	}
	s.userToken = auth.Token
	return nil
}

// checkoutKey is a new checkout's Idempotency-Key header, unique to the
// shopper being played and the moment.
func (s *shopper) checkoutKey() map[string]string {
	return map[string]string{"Idempotency-Key": "lg-" + strconv.Itoa(s.n) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
}

func checkoutBody(card string, total int64) map[string]any {
	return map[string]any{
		"card": map[string]any{"number": card, "exp_month": 12, "exp_year": time.Now().Year() + 2, "cvc": "123", "holder": "Load Tester"},
		"shipping_address": map[string]string{"name": "Load Tester", "line1": "1 Loopback Lane", "line2": "",
			"city": "Localhost", "postal_code": "12345", "country": "US"},
		"expected_total_cents": total,
	}
}

// pick chooses a journey by the configured weights.
func (s *shopper) pick() string {
	total := 0
	for _, w := range s.cfg.Mix {
		total += w
	}
	n := s.rng.IntN(total)
	for _, name := range journeyNames {
		if n < s.cfg.Mix[name] {
			return name
		}
		n -= s.cfg.Mix[name]
	}
	return journeyNames[0]
}

// repeat is endpoint mode: one request, again and again.
func (s *shopper) repeat(ctx context.Context) error {
	method, path, _ := strings.Cut(s.cfg.Endpoint, " ")
	token := ""
	if s.cfg.AsGuest {
		var g tokenBody
		if _, err := s.call(ctx, "setup/guest-token", "POST", "/api/user/guest", "/api/user/guest", nil, "", nil, &g); err != nil {
			return err
		}
		token = g.Token
	}
	var body any
	if s.cfg.Body != "" {
		body = json.RawMessage(s.cfg.Body)
	}
	for n := 0; s.cfg.Iterations == 0 || n < s.cfg.Iterations; n++ {
		if ctx.Err() != nil {
			return nil
		}
		_, _ = s.call(ctx, "endpoint", method, path, path, body, token, nil, nil)
		if method == "POST" && s.cfg.AsGuest && n%90 == 89 {
			// Keep a cart under its per-line limit: start a fresh one.
			_, _ = s.call(ctx, "setup/clear-cart", "DELETE", "/api/cart/cart", "/api/cart/cart", nil, token, nil, nil)
		}
	}
	return nil
}

// signUp registers every identity the shopper plays, from its own address,
// recorded under sign-up/register. It returns how many it registered.
func (s *shopper) signUp(ctx context.Context) int {
	n := 0
	for _, id := range s.ids {
		s.identity = id
		for attempt := 0; id.userToken == "" && attempt < 3 && ctx.Err() == nil; attempt++ {
			_ = s.signIn(ctx, "sign-up") // recorded; tried again below
		}
		if id.userToken != "" {
			n++
		}
	}
	return n
}

func (s *shopper) loop(ctx context.Context, active *atomic.Int32) {
	active.Add(1)
	defer active.Add(-1)
	s.identity = s.ids[0]
	if s.cfg.Endpoint != "" {
		_ = s.repeat(ctx)
		return
	}
	for s.cfg.Iterations == 0 || s.journeys < s.cfg.Iterations {
		if ctx.Err() != nil {
			return
		}
		s.journey(ctx, time.Time{})
		s.think(ctx)
	}
}

// journey plays one journey of the mix as the next of the shopper's
// identities. due, when set, is when it was meant to start (open loop): its
// first request's latency counts from then, so time spent waiting to start
// is not hidden.
func (s *shopper) journey(ctx context.Context, due time.Time) {
	s.identity = s.ids[s.journeys%len(s.ids)]
	s.due = due
	var err error
	switch s.pick() {
	case "browse":
		_, err = s.browse(ctx)
	case "guest":
		_, err = s.guest(ctx)
	case "buyer":
		err = s.buyer(ctx)
	case "checkout":
		err = s.checkout(ctx)
	}
	_ = err // recorded per request; a failed step ends the journey
	s.journeys++
}
