package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// ErrRemoteNotFound is returned by Call when the other service answers 404.
const ErrRemoteNotFound = sentinel("remote: not found")

// CallOptions describe one call to another service.
type CallOptions struct {
	Method string
	URL    string
	Token  string // forwarded as a bearer token when set
	// Header is added to the request: a service's own credential for an
	// internal route, beside the end user's token.
	Header http.Header
	// Body, when not nil, is sent as JSON.
	Body any
	// Retries is how many times an idempotent call is repeated after a transport
	// error or a 5xx, with jittered back-off. Non-idempotent calls must leave it 0.
	Retries int
}

// Call makes a request to another service and decodes a 2xx JSON answer into dst
// (when dst is not nil). It forwards the request id from ctx. A 404 is
// ErrRemoteNotFound; transport errors, timeouts and 5xx are ErrUnavailable;
// other statuses are plain errors carrying the status.
func Call(ctx context.Context, client *http.Client, opt CallOptions, dst any) error {
	var err error
	for attempt := 0; ; attempt++ {
		var retry bool
		retry, err = callOnce(ctx, client, opt, dst)
		if !retry || attempt >= opt.Retries || ctx.Err() != nil {
			return err
		}
		backoff := time.Duration(50<<attempt) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		}
	}
}

func callOnce(ctx context.Context, client *http.Client, opt CallOptions, dst any) (retry bool, err error) {
	var payload io.Reader
	if opt.Body != nil {
		raw, err := json.Marshal(opt.Body)
		if err != nil {
			return false, err
		}
		payload = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, opt.Method, opt.URL, payload)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id := RequestID(ctx); id != "" {
		req.Header.Set(HeaderRequestID, id)
	}
	if opt.Token != "" {
		req.Header.Set("Authorization", "Bearer "+opt.Token)
	}
	for k, v := range opt.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, fmt.Errorf("%s %s: %w: %w", opt.Method, opt.URL, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, 1<<20)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		_, _ = io.Copy(io.Discard, body)
		return false, ErrRemoteNotFound
	case resp.StatusCode >= 500:
		_, _ = io.Copy(io.Discard, body)
		return true, fmt.Errorf("%s %s: status %d: %w", opt.Method, opt.URL, resp.StatusCode, ErrUnavailable)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		_, _ = io.Copy(io.Discard, body)
		return false, &RemoteStatusError{Status: resp.StatusCode, URL: opt.URL}
	}
	if dst == nil {
		_, _ = io.Copy(io.Discard, body)
		return false, nil
	}
	if err := json.NewDecoder(body).Decode(dst); err != nil {
		return false, fmt.Errorf("%s %s: decode answer: %w", opt.Method, opt.URL, err)
	}
	return false, nil
}

// RemoteStatusError is an unexpected 4xx from another service.
type RemoteStatusError struct {
	Status int
	URL    string
}

func (e *RemoteStatusError) Error() string { return fmt.Sprintf("%s: status %d", e.URL, e.Status) }
