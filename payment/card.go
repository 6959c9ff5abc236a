package main

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Card is a validated card. Its Number and CVC go to the gateway and nowhere
// else: String, GoString and LogValue show only brand and last four digits.
type Card struct {
	Number   string
	CVC      string
	Brand    string
	ExpMonth int
	ExpYear  int
	Holder   string
}

func (c Card) Last4() string { return c.Number[len(c.Number)-4:] }

func (c Card) String() string             { return c.Brand + " ending " + c.Last4() }
func (c Card) GoString() string           { return c.String() }
func (c Card) LogValue() slog.Value       { return slog.StringValue(c.String()) }
func (c Card) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.String())) }

type cardInput struct {
	Number   string `json:"number"`
	ExpMonth int    `json:"exp_month"`
	ExpYear  int    `json:"exp_year"`
	CVC      string `json:"cvc"`
	Holder   string `json:"holder"`
}

var (
	digitsOnly = regexp.MustCompile(`^[0-9]+$`)
	postalCode = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 -]{0,18}[A-Za-z0-9]$|^[A-Za-z0-9]$`)
	country    = regexp.MustCompile(`^[A-Z]{2}$`)
)

// validateCard checks a card and returns it with problems keyed by field path.
func validateCard(in cardInput, now time.Time, fields map[string]string) Card {
	number := strings.NewReplacer(" ", "", "-", "").Replace(in.Number)
	c := Card{Number: number, CVC: in.CVC, ExpMonth: in.ExpMonth, ExpYear: in.ExpYear, Holder: strings.TrimSpace(in.Holder)}
	switch {
	case len(number) < 12 || len(number) > 19 || !digitsOnly.MatchString(number):
		fields["card.number"] = "must be 12 to 19 digits"
	case !luhnValid(number):
		fields["card.number"] = "is not a valid card number (check digit)"
	default:
		if c.Brand = cardBrand(number); c.Brand == "" {
			fields["card.number"] = "card brand not accepted (Visa, Mastercard, American Express, Discover)"
		}
	}
	if in.ExpMonth < 1 || in.ExpMonth > 12 {
		fields["card.exp_month"] = "must be 1 to 12"
	}
	if in.ExpYear < 2000 || in.ExpYear > 2100 {
		fields["card.exp_year"] = "must be a four-digit year"
	} else if in.ExpMonth >= 1 && in.ExpMonth <= 12 {
		// A card is valid through the last day of its expiry month.
		endOfMonth := time.Date(in.ExpYear, time.Month(in.ExpMonth)+1, 1, 0, 0, 0, 0, time.UTC)
		if !now.Before(endOfMonth) {
			fields["card.exp_year"] = "the card has expired"
		}
	}
	if !digitsOnly.MatchString(in.CVC) || len(in.CVC) < 3 || len(in.CVC) > 4 {
		fields["card.cvc"] = "must be 3 or 4 digits"
	}
	if msg := checkText(c.Holder, 1, 100); msg != "" {
		fields["card.holder"] = msg
	}
	return c
}

func validateAddress(a *Address, fields map[string]string) {
	a.Name, a.Line1, a.Line2 = strings.TrimSpace(a.Name), strings.TrimSpace(a.Line1), strings.TrimSpace(a.Line2)
	a.City, a.PostalCode = strings.TrimSpace(a.City), strings.TrimSpace(a.PostalCode)
	a.Country = strings.ToUpper(strings.TrimSpace(a.Country))
	for field, check := range map[string]string{
		"name": checkText(a.Name, 1, 100), "line1": checkText(a.Line1, 1, 200),
		"line2": checkText(a.Line2, 0, 200), "city": checkText(a.City, 1, 100),
	} {
		if check != "" {
			fields["shipping_address."+field] = check
		}
	}
	if !postalCode.MatchString(a.PostalCode) {
		fields["shipping_address.postal_code"] = "must be 1 to 20 letters, digits, spaces or dashes"
	}
	if !country.MatchString(a.Country) {
		fields["shipping_address.country"] = "must be a two-letter country code such as US"
	}
}

func checkText(s string, lo, hi int) string {
	n := utf8.RuneCountInString(s)
	if !utf8.ValidString(s) || n < lo || n > hi {
		if lo == 0 {
			return fmt.Sprintf("must be at most %d characters", hi)
		}
		return fmt.Sprintf("must be %d to %d characters", lo, hi)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}

func luhnValid(number string) bool {
	sum := 0
	double := false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// cardBrand names the brand from the number's prefix (IIN ranges), or "".
func cardBrand(number string) string {
	prefix := func(n int) int {
		v := 0
		for i := 0; i < n && i < len(number); i++ {
			v = v*10 + int(number[i]-'0')
		}
		return v
	}
	switch p2, p4 := prefix(2), prefix(4); {
	case number[0] == '4' && (len(number) == 13 || len(number) == 16 || len(number) == 19):
		return "visa"
	case (p2 >= 51 && p2 <= 55 || p4 >= 2221 && p4 <= 2720) && len(number) == 16:
		return "mastercard"
	case (p2 == 34 || p2 == 37) && len(number) == 15:
		return "amex"
	case (p4 == 6011 || p2 == 65) && len(number) >= 16:
		return "discover"
	}
	return ""
}
