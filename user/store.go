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
)

// store is what the handlers need from the datastore.
type store interface {
	// CreateUser inserts u; errEmailTaken when the email is registered already.
	CreateUser(ctx context.Context, u User) error
	// UserByEmail and UserByID return errNotFound when there is no such user.
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)

	// LoginFailures counts the failed logins for email since since and returns
	// the time of the latest.
	LoginFailures(ctx context.Context, email string, since time.Time) (int, time.Time, error)
	// RecordLoginFailure stores one failed login at at and forgets those before forgetBefore.
	RecordLoginFailure(ctx context.Context, email string, at, forgetBefore time.Time) error
	// ResetLoginFailures forgets the failures after a successful login.
	ResetLoginFailures(ctx context.Context, email string) error

	// SigningKey returns the service's signing key, storing candidate if none is
	// stored yet; concurrent first starts agree on one key.
	SigningKey(ctx context.Context, candidate ed25519.PrivateKey) (ed25519.PrivateKey, error)
}
