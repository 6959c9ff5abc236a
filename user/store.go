package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"
)

// User is an account. PasswordHash never leaves the service.
type User struct {
	ID           string    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"created_at"`
	PasswordHash []byte    `json:"-"`
}

var (
	errEmailTaken = errors.New("email already registered")
	errNotFound   = errors.New("not found")
	// errChallengeSpent: a login challenge was used already.
	errChallengeSpent = errors.New("login challenge spent already")
)

// store is what the handlers need from the datastore.
type store interface {
	// CreateUser inserts u; errEmailTaken when the email is registered already.
	CreateUser(ctx context.Context, u User) error
	// UserByEmail and UserByID return errNotFound when there is no such user.
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)

	// RecordAttempt stores one login attempt at email from addr, made at at,
	// and forgets email's attempts before forgetBefore. It returns the
	// attempt's id. Inserts are atomic everywhere (no read-modify-write), so
	// parallel attempts are all counted.
	RecordAttempt(ctx context.Context, email, addr string, at, forgetBefore time.Time) (string, error)
	// CountAttempts counts email's attempts made since since, from addr only
	// unless addr is "".
	CountAttempts(ctx context.Context, email, addr string, since time.Time) (int, error)
	// OldestAttempt returns when the oldest of those attempts was made (since
	// itself when there is none): a refused address may try again when it
	// leaves the window.
	OldestAttempt(ctx context.Context, email, addr string, since time.Time) (time.Time, error)
	// ForgetAttempt deletes one attempt (refused before its password was checked).
	ForgetAttempt(ctx context.Context, id string) error
	// ClearAttempts forgets email's attempts from addr (after a successful login).
	ClearAttempts(ctx context.Context, email, addr string) error
	// SpendChallenge records that the login challenge id was used, at at, and
	// forgets challenges spent before forgetBefore (expired by then); one
	// spent already is errChallengeSpent. The id is the record's unique key,
	// so of parallel spends of one challenge exactly one succeeds.
	SpendChallenge(ctx context.Context, id string, at, forgetBefore time.Time) error

	// SigningKey returns the service's signing key, storing candidate if none is
	// stored yet; concurrent first starts agree on one key.
	SigningKey(ctx context.Context, candidate ed25519.PrivateKey) (ed25519.PrivateKey, error)
}
