package testkit

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
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
