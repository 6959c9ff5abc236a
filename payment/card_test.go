package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestValidateCard(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		in        cardInput
		brand     string
		badFields []string
	}{
		{"visa", cardInput{"4242 4242 4242 4242", 12, 2027, "123", "A"}, "visa", nil},
		{"mastercard 2-series", cardInput{"2223003122003222", 1, 2030, "123", "A"}, "mastercard", nil},
		{"mastercard 5-series", cardInput{"5555-5555-5555-4444", 1, 2030, "123", "A"}, "mastercard", nil},
		{"amex", cardInput{"378282246310005", 1, 2030, "1234", "A"}, "amex", nil},
		{"discover", cardInput{"6011111111111117", 1, 2030, "123", "A"}, "discover", nil},
		{"expires this month: still valid", cardInput{"4242424242424242", 11, 2026, "123", "A"}, "visa", nil},
		{"expired last month", cardInput{"4242424242424242", 10, 2026, "123", "A"}, "visa", []string{"card.exp_year"}},
		{"bad check digit", cardInput{"4242424242424241", 1, 2030, "123", "A"}, "", []string{"card.number"}},
		{"too short", cardInput{"4242", 1, 2030, "123", "A"}, "", []string{"card.number"}},
		{"unknown brand", cardInput{"9999999999999995", 1, 2030, "123", "A"}, "", []string{"card.number"}},
		{"two-digit year", cardInput{"4242424242424242", 1, 30, "123", "A"}, "visa", []string{"card.exp_year"}},
		{"everything wrong", cardInput{"x", 0, 0, "abc", ""}, "", []string{"card.number", "card.exp_month", "card.exp_year", "card.cvc", "card.holder"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[string]string{}
			c := validateCard(tc.in, now, fields)
			if len(fields) != len(tc.badFields) {
				t.Fatalf("problems %v, want fields %v", fields, tc.badFields)
			}
			for _, f := range tc.badFields {
				if fields[f] == "" {
					t.Fatalf("problems %v lack %s", fields, f)
				}
			}
			if tc.brand != "" && c.Brand != tc.brand {
				t.Fatalf("brand %q, want %q", c.Brand, tc.brand)
			}
		})
	}
}

func TestCardNeverPrintsItsNumber(t *testing.T) {
	c := Card{Number: "4242424242424242", CVC: "987", Brand: "visa"}
	var logged strings.Builder
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "card", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v %#v %s %d", c, c, c, c), logged.String()} {
		if strings.Contains(s, "42424242") || strings.Contains(s, "987") || !strings.Contains(s, "4242") {
			t.Fatalf("card printed as %q", s)
		}
	}
}
