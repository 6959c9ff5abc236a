package main

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/roboshop-go/roboshop/kit"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

type config struct {
	Faults       kit.Faults // the drill's FAULT_* knobs (none unless set)
	ListenAddr   string
	MongoURI     string
	Database     string
	LogLevel     slog.Level
	TokenTTL     time.Duration
	BcryptCost   int
	SeedDemo     bool
	DemoEmail    string
	DemoPassword string
	Login        loginPolicy
	// TrustedProxies may set X-Real-IP (the frontend's nginx): addresses,
	// ranges or host names (proxies.go). From any other peer the header is
	// ignored and the peer's own address is the client's.
	TrustedProxies []string
	// SigningKey is the token signing key configuration gives (SIGNING_KEY or
	// SIGNING_KEY_FILE); nil: the service keeps one in MongoDB.
	SigningKey ed25519.PrivateKey
}

// loginPolicy bounds password guessing. Every attempt is counted before its
// password is checked. One client address gets PerAddress attempts at an
// account per Window (a success clears them); beyond that it gets 429 until
// the oldest leaves the window. Once an account has had AccountCeiling
// attempts in the Window from all addresses together, it is slowed, not
// locked: one attempt per SlowInterval is checked, and any other passes only
// with a device token or a solved challenge, so its owner still gets in.
type loginPolicy struct {
	PerAddress     int
	Window         time.Duration
	AccountCeiling int
	SlowInterval   time.Duration
	// ChallengeBits is the work (in bits, 2^n hashes) a login challenge asks
	// of an attempt the slow lane would refuse (challenge.go), and
	// ChallengeExtraBits how many more bits it may add as the guesses double
	// (30 at most in all: the browser checks the digest's first word).
	ChallengeBits      int
	ChallengeExtraBits int
}

func loadConfig(getenv kit.Getenv) (config, error) {
	env := kit.NewEnv(getenv)
	cfg := config{
		ListenAddr:   env.String("LISTEN_ADDR", ":8080"),
		MongoURI:     env.String("MONGO_URI", "mongodb://localhost:27017/users"),
		LogLevel:     env.Level("LOG_LEVEL", slog.LevelInfo),
		Faults:       kit.LoadFaults(env),
		TokenTTL:     env.Duration("TOKEN_TTL", time.Hour, time.Minute, 24*time.Hour),
		BcryptCost:   env.Int("BCRYPT_COST", 12, 10, 15),
		SeedDemo:     env.Bool("SEED_DEMO", true),
		DemoEmail:    env.String("DEMO_EMAIL", "demo@roboshop.example"),
		DemoPassword: env.String("DEMO_PASSWORD", "roboshop-demo"),
		Login: loginPolicy{
			PerAddress:         env.Int("LOGIN_FREE_ATTEMPTS", 5, 1, 100),
			Window:             env.Duration("LOGIN_WINDOW", 15*time.Minute, time.Second, 24*time.Hour),
			AccountCeiling:     env.Int("LOGIN_ACCOUNT_CEILING", 20, 1, 10_000),
			SlowInterval:       env.Duration("LOGIN_SLOW_INTERVAL", time.Second, 100*time.Millisecond, time.Minute),
			ChallengeBits:      env.Int("LOGIN_CHALLENGE_BITS", 18, 1, 24),
			ChallengeExtraBits: env.Int("LOGIN_CHALLENGE_EXTRA_BITS", 4, 0, 6),
		},
		// Loopback only: each rendering names its own frontend exactly.
		TrustedProxies: strings.Split(env.String("TRUSTED_PROXIES", "127.0.0.0/8,::1"), ","),
	}
	signingKey, signingFile := env.String("SIGNING_KEY", ""), env.String("SIGNING_KEY_FILE", "")
	cs, err := connstring.ParseAndValidate(cfg.MongoURI)
	if err := env.Err(); err != nil {
		return config{}, err
	}
	if err != nil {
		return config{}, fmt.Errorf("invalid configuration: MONGO_URI: %w", err)
	}
	for i, p := range cfg.TrustedProxies {
		// Trimmed here, so what is checked is exactly what gin is given.
		p = strings.TrimSpace(p)
		cfg.TrustedProxies[i] = p
		if _, ok := parseProxy(p); !ok && !validProxyHost(p) {
			return config{}, fmt.Errorf("invalid configuration: TRUSTED_PROXIES: %q is neither an address, a CIDR nor a host name", p)
		}
	}
	cfg.Database = cs.Database
	if cfg.Database == "" {
		cfg.Database = "users"
	}
	if cfg.SigningKey, err = configuredKey(signingKey, signingFile); err != nil {
		return config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	if err := validatePassword(cfg.DemoPassword); err != nil && cfg.SeedDemo {
		return config{}, fmt.Errorf("invalid configuration: DEMO_PASSWORD: %s", err)
	}
	return cfg, nil
}
