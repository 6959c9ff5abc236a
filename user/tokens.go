package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/roboshop-go/roboshop/kit"
)

// signer issues tokens with the service's Ed25519 key.
type signer struct {
	key    ed25519.PrivateKey
	jwk    kit.JWK
	public kit.StaticKeys // the one public key, by kid, for verifying
}

func newSigner(key ed25519.PrivateKey) *signer {
	pub := key.Public().(ed25519.PublicKey)
	jwk := kit.PublicJWK(pub)
	return &signer{key: key, jwk: jwk, public: kit.StaticKeys{jwk.Kid: pub}}
}

// issue returns a signed token for subject with role, valid for ttl from now.
func (s *signer) issue(subject, role string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	exp := now.Add(ttl)
	claims := kit.Claims{Role: role, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    kit.TokenIssuer,
		Audience:  jwt.ClaimStrings{kit.TokenAudience},
		Subject:   subject,
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(exp),
		ID:        randomHex(12),
	}}
	signed, err := s.sign(claims)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, exp, nil
}

// sign signs claims with the service's key and names the key (kid), so
// verifiers find it in the JWKS.
func (s *signer) sign(claims jwt.Claims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = s.jwk.Kid
	return tok.SignedString(s.key)
}

// parseOwn parses token into claims when this service signed it (EdDSA, its
// key, its issuer) for audience and it carries an unexpired expiry.
func (s *signer) parseOwn(token string, claims jwt.Claims, audience string) error {
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		return s.key.Public(), nil
	}, jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithAudience(audience),
		jwt.WithIssuer(kit.TokenIssuer), jwt.WithExpirationRequired())
	return err
}

// keyring holds the signer once start-up has loaded it from the datastore.
type keyring struct{ current atomic.Pointer[signer] }

func (k *keyring) load(ctx context.Context, st store) error {
	_, candidate, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	key, err := st.SigningKey(ctx, candidate)
	if err != nil {
		return err
	}
	k.current.Store(newSigner(key))
	return nil
}

// use makes key the signing key: one given by configuration, which is then
// never read from or written to the datastore.
func (k *keyring) use(key ed25519.PrivateKey) { k.current.Store(newSigner(key)) }

func (k *keyring) signer() (*signer, error) {
	if s := k.current.Load(); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("signing key not loaded yet: %w", kit.ErrUnavailable)
}

// PublicKey makes the keyring the KeySource for verifying the service's own tokens.
func (k *keyring) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	s, err := k.signer()
	if err != nil {
		return nil, err
	}
	return s.public.PublicKey(ctx, kid)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// configuredKey is the signing key configuration gives, if any: SIGNING_KEY
// (value) or SIGNING_KEY_FILE (file), each either a PEM PKCS#8 Ed25519 key
// (what `openssl genpkey -algorithm ed25519` writes) or the base64 of its
// 32-byte seed. With a configured key the key need not live in MongoDB, where
// anyone who can read the database could mint tokens; every instance given
// the same key issues tokens the others accept. Errors never quote the key.
func configuredKey(value, file string) (ed25519.PrivateKey, error) {
	switch {
	case value != "" && file != "":
		return nil, errors.New("SIGNING_KEY and SIGNING_KEY_FILE are both set: set one")
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("SIGNING_KEY_FILE: %w", err)
		}
		defer f.Close()
		text, err := io.ReadAll(io.LimitReader(f, 16<<10))
		if err != nil {
			return nil, fmt.Errorf("SIGNING_KEY_FILE: %w", err)
		}
		key, err := parseSigningKey(text)
		if err != nil {
			return nil, fmt.Errorf("SIGNING_KEY_FILE %s: %w", file, err)
		}
		return key, nil
	case value != "":
		key, err := parseSigningKey([]byte(value))
		if err != nil {
			return nil, fmt.Errorf("SIGNING_KEY: %w", err)
		}
		return key, nil
	}
	return nil, nil
}

func parseSigningKey(text []byte) (ed25519.PrivateKey, error) {
	text = bytes.TrimSpace(text)
	if block, _ := pem.Decode(text); block != nil {
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("a PEM %q block, want PRIVATE KEY (PKCS#8 Ed25519)", block.Type)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("the PEM block is not a PKCS#8 private key")
		}
		key, ok := parsed.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("a %T, want an Ed25519 key", parsed)
		}
		return key, nil
	}
	seed, err := base64.StdEncoding.DecodeString(string(text))
	if err != nil {
		return nil, errors.New("neither PEM nor base64")
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("the base64 value holds %d bytes, want an Ed25519 seed of %d", len(seed), ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// A device token is what a browser keeps after signing in to an account,
// and shows again with the next login of that account: proof that this
// client has held the password before (OWASP's device cookies). It lets its
// holder past the account-wide slow lane that guesses from many addresses
// put an account in, so the owner is never locked out by them. Its
// audience is its own: no service takes it as an access token. Its subject
// is the account's email, hashed, so the token does not carry the email.
const (
	deviceAudience = "roboshop-device"
	deviceRole     = "device"
	deviceTTL      = 30 * 24 * time.Hour
)

func deviceSubject(email string) string {
	sum := sha256.Sum256([]byte(email))
	return "email-sha256:" + hex.EncodeToString(sum[:])
}

// issueDevice returns a device token for the account whose email is email.
func (s *signer) issueDevice(email string, now time.Time) (string, error) {
	claims := kit.Claims{Role: deviceRole, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    kit.TokenIssuer,
		Audience:  jwt.ClaimStrings{deviceAudience},
		Subject:   deviceSubject(email),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(deviceTTL)),
		ID:        randomHex(12),
	}}
	return s.sign(claims)
}

// knownDevice reports whether token is an unexpired device token this
// service signed for the account whose email is email.
func (s *signer) knownDevice(token, email string) bool {
	if token == "" || len(token) > 2048 {
		return false
	}
	var claims kit.Claims
	err := s.parseOwn(token, &claims, deviceAudience)
	return err == nil && claims.Role == deviceRole && claims.Subject == deviceSubject(email)
}
