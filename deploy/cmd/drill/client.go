package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// shopClient is a buyer talking to the shop through nginx, as a browser does.
type shopClient struct {
	base string
	http *http.Client
}

func newShopClient(base string) *shopClient {
	return &shopClient{base: base, http: &http.Client{Timeout: 30 * time.Second}}
}

// statusError is an answer that was not what the step wanted.
type statusError struct {
	method, path string
	status       int
	body         string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, e.body)
}

// call sends one request and decodes a 2xx answer into out. A 429 (nginx's
// per-address limits: the request was not applied) is waited out and sent
// again, at most 6 times; nothing else is retried.
func (c *shopClient) call(ctx context.Context, method, path, token string, headers map[string]string, body, out any) error {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(raw))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return err
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 6 {
			wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(max(wait, 10)) * time.Second)
			continue
		}
		if resp.StatusCode/100 != 2 {
			return &statusError{method, path, resp.StatusCode, string(answer)}
		}
		if out != nil {
			return json.Unmarshal(answer, out)
		}
		return nil
	}
}

// status is the status of one GET (0 and the error when none came back).
func (c *shopClient) status(ctx context.Context, path, token string) (int, error) {
	err := c.call(ctx, http.MethodGet, path, token, nil, nil, nil)
	if se, ok := err.(*statusError); ok {
		return se.status, nil
	}
	if err != nil {
		return 0, err
	}
	return http.StatusOK, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// order is one placed order: its trace and how long the checkout took.
type order struct {
	traceID string
	took    time.Duration
}

// guestWithCart is a guest's token with product in the cart.
func (c *shopClient) guestWithCart(ctx context.Context) (string, error) {
	var guest struct{ Token string }
	if err := c.call(ctx, http.MethodPost, "/api/user/guest", "", nil, nil, &guest); err != nil {
		return "", err
	}
	return guest.Token, c.fillCart(ctx, guest.Token)
}

// fillCart puts one of each of the catalogue's first two products in token's cart.
func (c *shopClient) fillCart(ctx context.Context, token string) error {
	var page struct{ Items []struct{ SKU string } }
	if err := c.call(ctx, http.MethodGet, "/api/catalogue/products?limit=2", "", nil, nil, &page); err != nil {
		return err
	}
	for _, p := range page.Items {
		if err := c.call(ctx, http.MethodPost, "/api/cart/cart/items", token, nil, map[string]any{"sku": p.SKU, "qty": 1}, nil); err != nil {
			return err
		}
	}
	return nil
}

// buy is a buyer's whole journey: a guest's cart, registration, the merge, the
// quote and a checkout with the approving card, the checkout in a trace of
// its own (its traceparent names a caller span the drill made up).
func (c *shopClient) buy(ctx context.Context) (order, error) {
	guest, err := c.guestWithCart(ctx)
	if err != nil {
		return order{}, err
	}
	token, err := c.register(ctx)
	if err != nil {
		return order{}, err
	}
	if err := c.call(ctx, http.MethodPost, "/api/cart/cart/merge", token, nil, map[string]string{"guest_token": guest}, nil); err != nil {
		return order{}, err
	}
	var quote struct {
		TotalCents int64 `json:"total_cents"`
	}
	if err := c.call(ctx, http.MethodGet, "/api/payment/checkout/quote", token, nil, nil, &quote); err != nil {
		return order{}, err
	}
	o := order{traceID: randomHex(16)}
	start := time.Now()
	err = c.call(ctx, http.MethodPost, "/api/payment/checkout", token, map[string]string{
		"Idempotency-Key": "drill-" + randomHex(8), "traceparent": "00-" + o.traceID + "-" + randomHex(8) + "-01"},
		checkoutBody(quote.TotalCents), nil)
	o.took = time.Since(start)
	return o, err
}

// register signs a new drill shopper up and returns its token.
func (c *shopClient) register(ctx context.Context) (string, error) {
	var user struct{ Token string }
	err := c.call(ctx, http.MethodPost, "/api/user/register", "", nil, map[string]string{
		"email": "drill-" + randomHex(6) + "@roboshop.example", "name": "Drill", "password": "drill-" + randomHex(8)}, &user)
	return user.Token, err
}

// checkoutBody pays total with the approving test card.
func checkoutBody(total int64) map[string]any {
	return map[string]any{
		"card": map[string]any{"number": "4242424242424242", "exp_month": 12, "exp_year": time.Now().Year() + 2, "cvc": "123", "holder": "Drill"},
		"shipping_address": map[string]string{"name": "Drill", "line1": "1 Fault Lane", "line2": "", "city": "Drilltown",
			"postal_code": "12345", "country": "US"},
		"expected_total_cents": total,
	}
}

// promQuery runs an instant query and returns its result's series.
func (d *drill) promQuery(ctx context.Context, query string) ([]map[string]any, error) {
	var result struct{ Result []map[string]any }
	return result.Result, d.promAPI(ctx, "/api/v1/query?query="+url.QueryEscape(query), &result)
}

func (d *drill) promAPI(ctx context.Context, path string, data any) error {
	return getJSON(ctx, d.prometheus+path, func(raw []byte) error {
		var answer struct {
			Status string
			Error  string
			Data   json.RawMessage
		}
		if err := json.Unmarshal(raw, &answer); err != nil {
			return err
		}
		if answer.Status != "success" {
			return fmt.Errorf("prometheus: %s", answer.Error)
		}
		return json.Unmarshal(answer.Data, data)
	})
}

// alertState is the state (pending, firing; "" for none) of alert for job.
func (d *drill) alertState(ctx context.Context, alert, job string) (string, error) {
	var alerts struct {
		Alerts []struct {
			Labels map[string]string
			State  string
		}
	}
	if err := d.promAPI(ctx, "/api/v1/alerts", &alerts); err != nil {
		return "", err
	}
	for _, a := range alerts.Alerts {
		if a.Labels["alertname"] == alert && (job == "" || a.Labels["job"] == job) {
			return a.State, nil
		}
	}
	return "", nil
}

// alertRaised waits for alert (for job) to be pending or firing: pending is
// Prometheus's evaluation seeing the condition; the page follows once it has
// lasted the rule's "for".
func (d *drill) alertRaised(ctx context.Context, alert, job string) error {
	return until(ctx, 90*time.Second, fmt.Sprintf("Prometheus raised %s{job=%q}", alert, job), func() error {
		state, err := d.alertState(ctx, alert, job)
		if err == nil && state == "" {
			err = fmt.Errorf("not raised")
		}
		return err
	})
}

func getJSON(ctx context.Context, u string, decode func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, raw)
	}
	return decode(raw)
}
