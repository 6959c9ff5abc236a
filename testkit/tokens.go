package testkit

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/roboshop-go/roboshop/kit"
)

// GuestToken asks the user service at userURL for a guest token.
func GuestToken(t testing.TB, userURL string) string {
	t.Helper()
	return postForToken(t, userURL+"/guest", "", http.StatusCreated)
}

// RegisterUser registers a new account with a unique email at the user service
// and returns its token.
func RegisterUser(t testing.TB, userURL string) string {
	t.Helper()
	email := strings.ToLower(UniqueName("shopper")) + "@example.com"
	body := `{"email":"` + email + `","name":"Test Shopper","password":"password1"}`
	return postForToken(t, userURL+"/register", body, http.StatusCreated)
}

func postForToken(t testing.TB, url, body string, want int) string {
	t.Helper()
	resp, err := HTTPClient().Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != want || out.Token == "" {
		t.Fatalf("POST %s: status %d, token %q, %v", url, resp.StatusCode, out.Token, err)
	}
	return out.Token
}

// Subject returns a token's subject, verified against the user service's JWKS
// the way the services verify it.
func Subject(t testing.TB, userURL, token string) string {
	t.Helper()
	jwks := kit.NewJWKSClient(userURL+"/.well-known/jwks.json", HTTPClient())
	p, err := kit.NewVerifier(jwks).Verify(Context(t), token)
	if err != nil {
		t.Fatalf("verify token: %v", err)
	}
	return p.Subject
}
