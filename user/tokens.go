package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = s.jwk.Kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return signed, exp, nil
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
