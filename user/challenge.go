package main

import (
	"crypto/sha256"
	"math/bits"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/roboshop-go/roboshop/kit"
)

// A login challenge is how a browser that never signed in gets past an
// account's slow lane, which guesses from many addresses keep full: the
// refusal carries a challenge, and the client proves it spent work on it
// (proof of work: a string whose SHA-256 with the challenge's salt, its id,
// starts with Bits zero bits: 2^Bits hashes on average). Its owner pays that once per
// new browser (then it holds a device token); a guesser pays it for every
// guess, and the more guesses the account receives the more bits each costs.
// A challenge is bound to the account's email, lives challengeTTL (shorter
// than the attempts' window, so its spent record outlives it) and is spent
// by the attempt it admits.
const (
	challengeAudience = "roboshop-login-challenge"
	challengeRole     = "login-challenge"
	challengeTTL      = 2 * time.Minute
	// maxChallengeLen and maxProofLen bound what a client sends back.
	maxChallengeLen = 1024
	maxProofLen     = 64
	// A 429 carries the challenge (a token to send back), its salt (what the
	// proof is hashed with) and its bits.
	HeaderChallenge     = "Login-Challenge"
	HeaderChallengeSalt = "Login-Challenge-Salt"
	HeaderChallengeBits = "Login-Challenge-Bits"
)

type challengeClaims struct {
	Role string `json:"role"`
	Bits int    `json:"bits"`
	jwt.RegisteredClaims
}

// challengeBits is the work asked of the next attempt at an account that
// has had attempts in the window: policy.ChallengeBits at the ceiling, one
// bit more each time the attempts double, at most ChallengeExtraBits more.
func challengeBits(policy loginPolicy, attempts int) int {
	extra := 0
	for n := policy.AccountCeiling * 2; n <= attempts && extra < policy.ChallengeExtraBits; n *= 2 {
		extra++
	}
	return policy.ChallengeBits + extra
}

// issueChallenge returns a challenge of bits for the account whose email is
// email, and its salt.
func (s *signer) issueChallenge(email string, bits int, now time.Time) (token, salt string, err error) {
	claims := challengeClaims{Role: challengeRole, Bits: bits, RegisteredClaims: jwt.RegisteredClaims{
		Issuer:    kit.TokenIssuer,
		Audience:  jwt.ClaimStrings{challengeAudience},
		Subject:   deviceSubject(email),
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(challengeTTL)),
		ID:        randomHex(12),
	}}
	token, err = s.sign(claims)
	return token, claims.ID, err
}

// solvedChallenge returns the challenge's id when token is an unexpired
// challenge this service issued for email and proof solves it; "" otherwise.
// It checks only signatures and hashes: whether the challenge was spent
// already is SpendChallenge's to say.
func (s *signer) solvedChallenge(token, proof, email string) string {
	if token == "" || len(token) > maxChallengeLen || proof == "" || len(proof) > maxProofLen {
		return ""
	}
	var claims challengeClaims
	if err := s.parseOwn(token, &claims, challengeAudience); err != nil || claims.Role != challengeRole || claims.Subject != deviceSubject(email) ||
		claims.ID == "" || proofBits(claims.ID, proof) < claims.Bits {
		return ""
	}
	return "challenge-" + claims.ID
}

// proofBits counts the leading zero bits of SHA-256(salt "." proof). The
// salt is short, so the browser hashes one block per try (app.js).
func proofBits(salt, proof string) int {
	sum := sha256.Sum256([]byte(salt + "." + proof))
	n := 0
	for _, b := range sum {
		if b != 0 {
			return n + bits.LeadingZeros8(b)
		}
		n += 8
	}
	return n
}

// solveCha
