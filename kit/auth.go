package kit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/golang-jwt/jwt/v5"
)

// Token constants fixed by docs/architecture.md (Tokens).
const (
	TokenIssuer   = "roboshop-user"
	TokenAudience = "roboshop"
	RoleGuest     = "guest"
	RoleUser      = "user"
)

// Claims are the JWT claims Roboshop tokens carry.
type Claims struct {
	Role string `json:"role"`
	jwt.RegisteredClaims
}

// Principal is the verified caller of a request.
type Principal struct {
	Subject string
	Role    string
}

// JWK is one public key in a JWKS document (RFC 8037 OKP key for Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
}

// JWKSet is the document served at /.well-known/jwks.json.
type JWKSet struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK describes pub as a JWK whose kid is its RFC 7638 thumbprint.
func PublicJWK(pub ed25519.PublicKey) JWK {
	x := base64.RawURLEncoding.EncodeToString(pub)
	// RFC 7638: hash of the required members in lexicographic order, no spaces.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return JWK{Kty: "OKP", Crv: "Ed25519", X: x, Kid: base64.RawURLEncoding.EncodeToString(sum[:]), Use: "sig", Alg: "EdDSA"}
}

func (k JWK) publicKey() (ed25519.PublicKey, error) {
	if k.Kty != "OKP" || k.Crv != "Ed25519" {
		return nil, fmt.Errorf("key %q: unsupported type %s/%s", k.Kid, k.Kty, k.Crv)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %q: malformed x", k.Kid)
	}
	return ed25519.PublicKey(raw), nil
}

// KeySource finds the public key for a key id.
type KeySource interface {
	PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

// errUnknownKey is returned by a KeySource that does not know a kid.
var errUnknownKey = errors.New("unknown key id")

// Verifier checks Roboshop tokens: EdDSA only, issuer, audience and expiry required.
//
// An Ed25519 signature check costs about 50 µs, more than the rest of a cart
// request, and a shopper sends the same token with every request. So tokens
// that passed are remembered (by SHA-256, at most verifiedCap) until they
// expire; tokens that failed never are.
type Verifier struct {
	keys     KeySource
	parser   *jwt.Parser
	now      func() time.Time
	verified *Memo[[sha256.Size]byte, Principal]
}

// verifiedCap bounds the remembered tokens (about 80 bytes each).
const verifiedCap = 4096

// NewVerifier returns a Verifier taking keys from keys.
func NewVerifier(keys KeySource) *Verifier {
	v := &Verifier{keys: keys, now: time.Now, verified: NewMemo[[sha256.Size]byte, Principal](verifiedCap)}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithAudience(TokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
	)
	return v
}

// Verify parses and checks a token. A dependency failure while fetching keys is
// returned wrapping ErrUnavailable; every other failure is Unauthorized().
func (v *Verifier) Verify(ctx context.Context, token string) (Principal, error) {
	sum := sha256.Sum256([]byte(token))
	now := v.now()
	if p, ok := v.verified.Get(sum, now); ok {
		return p, nil
	}
	p, expires, err := v.verify(ctx, token)
	if err == nil {
		v.verified.Put(sum, p, expires, now)
	}
	return p, err
}

func (v *Verifier) verify(ctx context.Context, token string) (Principal, time.Time, error) {
	var claims Claims
	var keyErr error
	_, err := v.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		key, err := v.keys.PublicKey(ctx, kid)
		keyErr = err
		return key, err
	})
	if err != nil {
		if errors.Is(keyErr, ErrUnavailable) {
			return Principal{}, time.Time{}, keyErr
		}
		return Principal{}, time.Time{}, Unauthorized()
	}
	if claims.Subject == "" || (claims.Role != RoleGuest && claims.Role != RoleUser) {
		return Principal{}, time.Time{}, Unauthorized()
	}
	// Remembered until the expiry itself, without the parser's leeway.
	return Principal{Subject: claims.Subject, Role: claims.Role}, claims.ExpiresAt.Time, nil
}

// RequireAuth rejects requests without a valid bearer token and stores the caller
// for Caller. roles, when given, lists the roles allowed (others get 403).
func RequireAuth(v *Verifier, roles ...string) gin.HandlerFunc {
	return Handle(func(c *gin.Context) error {
		raw := BearerToken(c)
		if raw == "" || len(raw) > 4096 {
			return Unauthorized()
		}
		p, err := v.Verify(c.Request.Context(), raw)
		if err != nil {
			return err
		}
		if len(roles) > 0 && !contains(roles, p.Role) {
			return Forbidden()
		}
		c.Set(principalKeyName, p)
		c.Next()
		return nil
	})
}

const principalKeyName = "kit.principal"

// BearerToken returns the request's bearer token, or "" (the caller's token is
// forwarded as is when a service calls another on its behalf).
func BearerToken(c *gin.Context) string {
	if raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer "); ok {
		return raw
	}
	return ""
}

// Caller returns the verified caller; only valid behind RequireAuth.
func Caller(c *gin.Context) Principal {
	p, _ := c.Get(principalKeyName)
	pr, _ := p.(Principal)
	return pr
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// JWKSClient is a KeySource backed by the user service's JWKS endpoint. Keys are
// cached, and a cached key never waits: no lock is held over the network. An
// unknown kid triggers a refresh, but one fetch at a time (the others wait
// for it), at most once per minRefresh after a fetch that worked and once per
// failFloor after one that failed, and a kid the fresh set lacks is
// remembered as unknown for minRefresh: a flood of forged kids, with the user
// service up or down, is one fetch and a quick answer each.
type JWKSClient struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	failFloor  time.Duration

	mu       sync.Mutex
	keys     map[string]ed25519.PublicKey
	unknown  map[string]time.Time // kid -> remembered as unknown until
	tried    time.Time            // when the last fetch started
	failed   error                // why it failed, nil when it worked
	inFlight chan struct{}        // closed when the fetch in flight ends; nil when none
}

// unknownCap bounds the remembered unknown kids (a forger chooses them).
const unknownCap = 1024

// NewJWKSClient returns a JWKS-backed KeySource for url.
func NewJWKSClient(url string, client *http.Client) *JWKSClient {
	return &JWKSClient{url: url, client: client, minRefresh: 10 * time.Second, failFloor: time.Second,
		keys: map[string]ed25519.PublicKey{}, unknown: map[string]time.Time{}}
}

// PublicKey implements KeySource.
func (j *JWKSClient) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	for {
		j.mu.Lock()
		now := time.Now()
		if k, ok := j.keys[kid]; ok {
			j.mu.Unlock()
			return k, nil
		}
		if until, ok := j.unknown[kid]; ok && now.Before(until) {
			j.mu.Unlock()
			return nil, errUnknownKey
		}
		if wait := j.inFlight; wait != nil {
			j.mu.Unlock()
			select {
			case <-wait: // look again: the fetch may have brought it
				continue
			case <-ctx.Done():
				return nil, fmt.Errorf("fetch JWKS: %w: %w", ErrUnavailable, ctx.Err())
			}
		}
		if floor := j.floor(); !j.tried.IsZero() && now.Sub(j.tried) < floor {
			err := j.failed
			j.mu.Unlock()
			if err != nil {
				return nil, fmt.Errorf("fetch JWKS (failed %s ago): %w: %w", now.Sub(j.tried).Round(time.Millisecond), ErrUnavailable, err)
			}
			return nil, errUnknownKey
		}
		done := make(chan struct{})
		j.inFlight, j.tried = done, now
		j.mu.Unlock()

		// The caller's deadline does not end a fetch that others wait for;
		// the client's own timeout bounds it.
		keys, err := j.fetch(context.WithoutCancel(ctx))

		j.mu.Lock()
		j.failed, j.inFlight = err, nil
		close(done)
		if err != nil {
			j.mu.Unlock()
			return nil, fmt.Errorf("fetch JWKS: %w: %w", ErrUnavailable, err)
		}
		j.keys = keys
		k, ok := keys[kid]
		if !ok {
			if len(j.unknown) >= unknownCap {
				clear(j.unknown)
			}
			j.unknown[kid] = time.Now().Add(j.minRefresh)
		}
		j.mu.Unlock()
		if !ok {
			return nil, errUnknownKey
		}
		return k, nil
	}
}

// floor is the least time between two fetches, after the last one's outcome.
func (j *JWKSClient) floor() time.Duration {
	if j.failed != nil {
		return j.failFloor
	}
	return j.minRefresh
}

func (j *JWKSClient) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	if id := RequestID(ctx); id != "" {
		req.Header.Set(HeaderRequestID, id)
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	var set JWKSet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&set); err != nil {
		return nil, err
	}
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		pub, err := k.publicKey()
		if err != nil {
			continue // one odd key must not lock out the valid ones
		}
		keys[k.Kid] = pub
	}
	return keys, nil
}

// StaticKeys is a KeySource over keys held in memory (the user service's own).
type StaticKeys map[string]ed25519.PublicKey

// PublicKey implements KeySource.
func (s StaticKeys) PublicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, errUnknownKey
}

// HeaderServiceToken carries a service's own credential on an internal
// route, beside the end user's bearer token: the user says whose data, the
// service token says which caller may change it.
const HeaderServiceToken = "X-Service-Token"

// RequireServiceToken admits a request only when it carries token in
// HeaderServiceToken (compared in constant time); anything else is 403, so an
// end user's token alone never reaches the route.
func RequireServiceToken(token string) gin.HandlerFunc {
	want := []byte(token)
	return func(c *gin.Context) {
		got := []byte(c.GetHeader(HeaderServiceToken))
		if len(want) == 0 || subtle.ConstantTimeCompare(got, want) != 1 {
			WriteError(c, NewError(http.StatusForbidden, "internal_only", "this endpoint is for the shop's own services"))
			c.Abort()
			return
		}
		c.Next()
	}
}
