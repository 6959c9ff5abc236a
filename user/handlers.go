package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/mail"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/mtibben/confusables"
	"github.com/roboshop-go/roboshop/kit"
	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// maxBody bounds user request bodies: an email, a name and a password fit easily.
const maxBody = 4 << 10

type tokenResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

type userResponse struct {
	User      User      `json:"user"`
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// DeviceToken, after a register or login, is for the client to keep and
	// send with this account's next login (see issueDevice).
	DeviceToken string `json:"device_token,omitempty"`
}

var errInvalidCredentials = kit.NewError(http.StatusUnauthorized, "invalid_credentials", "email or password is wrong")

func handleGuest(keys *keyring, ttl time.Duration) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		s, err := keys.signer()
		if err != nil {
			return err
		}
		token, exp, err := s.issue("guest-"+randomHex(16), kit.RoleGuest, time.Now(), ttl)
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, tokenResponse{Token: token, ExpiresAt: exp})
		return nil
	})
}

type registerRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name"`
	Password string `json:"password"`
}

func handleRegister(st store, keys *keyring, ttl time.Duration, pw passwords) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		var req registerRequest
		if err := kit.BindJSON(c, &req, maxBody); err != nil {
			return err
		}
		email, name := normalizeEmail(req.Email), strings.TrimSpace(req.Name)
		fields := map[string]string{}
		if err := validateEmail(email); err != nil {
			fields["email"] = err.Error()
		} else if err := refuseLookAlike(email); err != nil {
			fields["email"] = err.Error()
		}
		if err := validateName(name); err != nil {
			fields["name"] = err.Error()
		}
		if err := validatePassword(req.Password); err != nil {
			fields["password"] = err.Error()
		}
		if len(fields) > 0 {
			return kit.Invalid(fields)
		}
		s, err := keys.signer()
		if err != nil {
			return err
		}
		hash, err := pw.hash(c.Request.Context(), req.Password)
		if err != nil {
			return err
		}
		u := User{ID: bson.NewObjectID().Hex(), Email: email, Name: name, PasswordHash: hash, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
		if err := st.CreateUser(c.Request.Context(), u); err != nil {
			if errors.Is(err, errEmailTaken) {
				return kit.NewError(http.StatusConflict, "email_taken", "an account with this email exists already")
			}
			return err
		}
		token, exp, err := s.issue(u.ID, kit.RoleUser, time.Now(), ttl)
		if err != nil {
			return err
		}
		device, err := s.issueDevice(u.Email, time.Now())
		if err != nil {
			return err
		}
		c.JSON(http.StatusCreated, userResponse{User: u, Token: token, ExpiresAt: exp, DeviceToken: device})
		return nil
	})
}

type loginRequest struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DeviceToken string `json:"device_token,omitempty"`
	// Challenge and Proof answer a login challenge (challenge.go).
	Challenge string `json:"challenge,omitempty"`
	Proof     string `json:"proof,omitempty"`
}

// passwords hashes and checks passwords at one bcrypt cost. dummy, a hash at
// that same cost, is checked when the email is unknown, so an unknown email
// costs exactly what a wrong password does and the two cannot be told apart.
type passwords struct {
	cost  int
	dummy []byte
	// slots: at most one bcrypt per core at a time. A burst of logins then
	// waits its turn instead of sharing the cores 64 ways, so each hash
	// finishes in its own time and the service's other requests (guest
	// tokens, the JWKS) keep the CPU they need.
	slots chan struct{}
}

func newPasswords(cost int) (passwords, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("roboshop-timing-equaliser"), cost)
	return passwords{cost: cost, dummy: dummy, slots: make(chan struct{}, runtime.GOMAXPROCS(0))}, err
}

// run runs one bcrypt operation in a free slot, or gives up as unavailable
// when ctx ends first (the client left, or its deadline passed).
func (p passwords) run(ctx context.Context, f func()) error {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting to check a password: %w: %w", kit.ErrUnavailable, ctx.Err())
	}
	defer func() { <-p.slots }()
	f()
	return nil
}

func (p passwords) hash(ctx context.Context, pw string) (hash []byte, err error) {
	if waitErr := p.run(ctx, func() { hash, err = bcrypt.GenerateFromPassword([]byte(pw), p.cost) }); waitErr != nil {
		return nil, waitErr
	}
	return hash, err
}

// matches checks pw against hash, or against the dummy when hash is nil.
func (p passwords) matches(ctx context.Context, hash []byte, pw string) (bool, error) {
	ok := false
	err := p.run(ctx, func() {
		if hash == nil {
			_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(pw))
			return
		}
		ok = bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
	})
	return ok, err
}

func handleLogin(st store, keys *keyring, ttl time.Duration, pw passwords, policy loginPolicy, proxies *trustedProxies) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		var req loginRequest
		if err := kit.BindJSON(c, &req, maxBody); err != nil {
			return err
		}
		email := normalizeEmail(req.Email)
		fields := map[string]string{}
		if email == "" || len(email) > 254 {
			fields["email"] = "is required (at most 254 characters)"
		}
		if req.Password == "" || len(req.Password) > 72 {
			fields["password"] = "is required (at most 72 bytes)"
		}
		if len(req.Challenge) > maxChallengeLen || (req.Challenge == "") != (req.Proof == "") {
			fields["challenge"] = "must come with its proof (at most " + strconv.Itoa(maxChallengeLen) + " characters)"
		}
		if len(req.Proof) > maxProofLen {
			fields["proof"] = "must be at most " + strconv.Itoa(maxProofLen) + " characters"
		}
		if len(fields) > 0 {
			return kit.Invalid(fields)
		}
		s, err := keys.signer()
		if err != nil {
			return err
		}
		// Attempts are counted per email whether or not an account exists, so the
		// throttle itself does not reveal which emails are registered.
		addr := proxies.clientAddr(c.Request)
		pass := lanePass{knownDevice: s.knownDevice(req.DeviceToken, email),
			challenge: s.solvedChallenge(req.Challenge, req.Proof, email)}
		if err := admitAttempt(c, st, s, email, addr, policy, pass); err != nil {
			return err
		}
		u, err := st.UserByEmail(c.Request.Context(), email)
		var hash []byte
		switch {
		case errors.Is(err, errNotFound):
		case err != nil:
			return err
		default:
			hash = u.PasswordHash
		}
		if ok, err := pw.matches(c.Request.Context(), hash, req.Password); err != nil {
			return err
		} else if !ok {
			return errInvalidCredentials
		}
		if err := st.ClearAttempts(c.Request.Context(), email, addr); err != nil {
			return err
		}
		token, exp, err := s.issue(u.ID, kit.RoleUser, time.Now(), ttl)
		if err != nil {
			return err
		}
		device, err := s.issueDevice(email, time.Now())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, userResponse{User: u, Token: token, ExpiresAt: exp, DeviceToken: device})
		return nil
	})
}

// lanePass is what lets an attempt past an account's slow lane: a device
// token of that account, or the id of a challenge solved for it.
type lanePass struct {
	knownDevice bool
	challenge   string
}

// admitAttempt counts the attempt first and then decides, so parallel guesses
// cannot all pass a check made before any of them was counted: of N parallel
// attempts from one address, at most PerAddress are admitted (the last one
// admitted counts every other admitted one, whose records stay). A refused
// attempt's record is deleted, so hammering does not grow the collection.
// Past the account-wide ceiling, which guesses from many addresses fill, one
// attempt per SlowInterval is checked; any other needs a pass (a known
// device, or a solved challenge) or is refused with a fresh challenge. The
// address's own limit holds for every attempt.
func admitAttempt(c *gin.Context, st store, s *signer, email, addr string, policy loginPolicy, pass lanePass) error {
	ctx := c.Request.Context()
	now := time.Now()
	id, err := st.RecordAttempt(ctx, email, addr, now, now.Add(-policy.Window))
	if err != nil {
		return err
	}
	refuse := func(wait time.Duration, message string) *kit.Error {
		_ = st.ForgetAttempt(context.WithoutCancel(ctx), id)
		return tooManyAttempts(wait, message)
	}
	fromAddr, err := st.CountAttempts(ctx, email, addr, now.Add(-policy.Window))
	if err != nil {
		return err
	}
	if fromAddr > policy.PerAddress {
		oldest, err := st.OldestAttempt(ctx, email, addr, now.Add(-policy.Window))
		if err != nil {
			return err
		}
		return refuse(oldest.Add(policy.Window).Sub(now), "too many failed logins for this account from your address")
	}
	all, err := st.CountAttempts(ctx, email, "", now.Add(-policy.Window))
	if err != nil {
		return err
	}
	if all > policy.AccountCeiling && !pass.knownDevice {
		recent, err := st.CountAttempts(ctx, email, "", now.Add(-policy.SlowInterval))
		if err != nil {
			return err
		}
		if recent > 1 && pass.challenge != "" {
			// Spent last, when nothing else refuses: a challenge is used up only
			// by the attempt it lets through.
			switch err := st.SpendChallenge(ctx, pass.challenge, now, now.Add(-challengeTTL)); {
			case err == nil:
				return nil
			case !errors.Is(err, errChallengeSpent):
				return err
			}
		}
		if recent > 1 {
			bits := challengeBits(policy, all)
			challenge, salt, err := s.issueChallenge(email, bits, now)
			if err != nil {
				return err
			}
			e := refuse(policy.SlowInterval, "this account is receiving many login attempts")
			e.Header[HeaderChallenge], e.Header[HeaderChallengeSalt] = challenge, salt
			e.Header[HeaderChallengeBits] = strconv.Itoa(bits)
			return e
		}
	}
	return nil
}

func tooManyAttempts(wait time.Duration, message string) *kit.Error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	e := kit.NewError(http.StatusTooManyRequests, "too_many_attempts",
		message+"; try again in "+strconv.Itoa(secs)+" seconds")
	e.Header = map[string]string{"Retry-After": strconv.Itoa(secs)}
	return e
}

func handleMe(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		u, err := st.UserByID(c.Request.Context(), kit.Caller(c).Subject)
		if errors.Is(err, errNotFound) {
			return kit.NotFound("user_not_found", "this account no longer exists")
		}
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, userResponse{User: u})
		return nil
	})
}

func handleJWKS(keys *keyring) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		s, err := keys.signer()
		if err != nil {
			return err
		}
		// Verifiers cache keys and refetch on an unknown kid, so a short max-age is enough.
		c.Header("Cache-Control", "public, max-age=300")
		c.JSON(http.StatusOK, kit.JWKSet{Keys: []kit.JWK{s.jwk}})
		return nil
	})
}

// normalizeEmail makes one spelling of an address: Unicode NFKC (so a
// full-width "ａ" is "a") and case-folded, so look-alikes cannot register twice.
func normalizeEmail(s string) string {
	return cases.Fold().String(norm.NFKC.String(strings.TrimSpace(s)))
}

func validateEmail(email string) error {
	if email == "" {
		return errors.New("is required")
	}
	if len(email) > 254 {
		return errors.New("must be at most 254 characters")
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return errors.New("must be an email address like name@example.com")
	}
	if _, domain, _ := strings.Cut(email, "@"); !strings.Contains(domain, ".") {
		return errors.New("must be an email address like name@example.com")
	}
	return nil
}

// refuseLookAlike refuses, at registration, an address that a reader could
// not tell from another one: invisible and formatting characters (a zero-width
// space), a label that mixes scripts (a Cyrillic "а" among Latin letters), and
// an address whose every non-ASCII letter is confusable with ASCII (its UTS #39
// skeleton is plain ASCII: "раураl" in Cyrillic reads "paypal"). Addresses in
// one script, accented letters and the CJK mixes UTS #39 allows stay welcome.
func refuseLookAlike(email string) error {
	for _, r := range email {
		if unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
			unicode.Is(unicode.Variation_Selector, r) || unicode.IsSpace(r) {
			return fmt.Errorf("must not contain invisible or formatting characters (%U)", r)
		}
	}
	local, domain, _ := strings.Cut(email, "@")
	for _, label := range append([]string{local}, strings.Split(domain, ".")...) {
		if scripts := scriptsOf(label); len(scripts) > 1 && !allowedMix(scripts) {
			return fmt.Errorf("must not mix scripts in one part (%s in %q): it would look like another address",
				strings.Join(slices.Sorted(maps.Keys(scripts)), " and "), label)
		}
	}
	if !isASCII(email) {
		if sk := confusables.Skeleton(email); isASCII(sk) {
			return errors.New("looks like an address in plain Latin letters: write it in those")
		}
	}
	return nil
}

// scriptsOf names the scripts of s's letters (Common and Inherited, such as
// digits, dots and accents, belong to none).
func scriptsOf(s string) map[string]bool {
	found := map[string]bool{}
	for _, r := range s {
		if r < utf8.RuneSelf && !unicode.IsLetter(r) {
			continue
		}
		for name, table := range unicode.Scripts {
			if name != "Common" && name != "Inherited" && unicode.Is(table, r) {
				found[name] = true
				break
			}
		}
	}
	return found
}

// allowedMix: the mixes UTS #39 calls highly restrictive, which Chinese,
// Japanese and Korean writing uses with Latin.
func allowedMix(scripts map[string]bool) bool {
	for _, mix := range [][]string{{"Latin", "Han", "Hiragana", "Katakana"}, {"Latin", "Han", "Bopomofo"}, {"Latin", "Han", "Hangul"}} {
		inside := true
		for name := range scripts {
			inside = inside && slices.Contains(mix, name)
		}
		if inside {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func validateName(name string) error {
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return errors.New("is required")
	}
	if n > 100 {
		return errors.New("must be at most 100 characters")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errors.New("must not contain control characters")
		}
		// Bidi controls reorder the text around them ("Ada\u202Egnp.exe").
		if unicode.Is(unicode.Bidi_Control, r) {
			return errors.New("must not contain text-direction control characters")
		}
	}
	return nil
}

func validatePassword(pw string) error {
	// bcrypt reads only the first 72 bytes, so longer passwords would be silently cut.
	if len(pw) < 8 || len(pw) > 72 {
		return errors.New("must be 8 to 72 bytes long")
	}
	return nil
}

// handleDemo answers the demo account's sign-in where this shop seeds one
// (SEED_DEMO), for the login page's hint, and 404 where it does not: the
// page then offers none rather than an account that is not there.
func handleDemo(cfg config) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !cfg.SeedDemo {
			kit.WriteError(c, kit.NotFound("no_demo_account", "this shop has no demo account"))
			return
		}
		c.JSON(http.StatusOK, gin.H{"email": normalizeEmail(cfg.DemoEmail), "password": cfg.DemoPassword})
	}
}

// seedDemo creates the documented demo account unless it exists already. Its
// email is normalised as a login's is, so DEMO_EMAIL in any case logs in.
func seedDemo(ctx context.Context, st store, pw passwords, cfg config) error {
	email := normalizeEmail(cfg.DemoEmail)
	if _, err := st.UserByEmail(ctx, email); err == nil {
		return nil
	} else if !errors.Is(err, errNotFound) {
		return err
	}
	hash, err := pw.hash(ctx, cfg.DemoPassword)
	if err != nil {
		return err
	}
	err = st.CreateUser(ctx, User{ID: bson.NewObjectID().Hex(), Email: email, Name: "Demo Shopper",
		PasswordHash: hash, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)})
	if errors.Is(err, errEmailTaken) {
		return nil // another instance seeded it first
	}
	return err
}
