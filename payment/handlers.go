package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/roboshop-go/roboshop/kit"
)

// Datastore calls get c.Request.Context(), never the *gin.Context itself:
// database/sql watches the context from a goroutine that can outlive the
// handler, and gin reuses its Context for the next request (a data race).

// maxBody bounds a checkout body: a card and an address.
const maxBody = 8 << 10

var idempotencyKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)

type checkoutRequest struct {
	Card            cardInput `json:"card"`
	ShippingAddress Address   `json:"shipping_address"`
	// ExpectedTotalCents is the total the shopper was shown (GET /checkout/quote).
	ExpectedTotalCents *int64 `json:"expected_total_cents"`
}

type orderResponse struct {
	Order Order `json:"order"`
}

type quoteResponse struct {
	Items         []OrderLine `json:"items"`
	SubtotalCents int64       `json:"subtotal_cents"`
	ShippingCents int64       `json:"shipping_cents"`
	TotalCents    int64       `json:"total_cents"`
	Currency      string      `json:"currency"`
}

// checkoutFingerprint identifies a checkout body for Idempotency-Key replays. It
// is built from the card's brand and last four digits, never its number or CVC,
// so even this hash carries nothing that could be brute-forced back to a card.
func checkoutFingerprint(card Card, addr Address, expectedTotal int64) string {
	raw, _ := json.Marshal(struct {
		Brand, Last4, Holder string
		ExpMonth, ExpYear    int
		Address              Address
		ExpectedTotal        int64
	}{card.Brand, card.Last4(), card.Holder, card.ExpMonth, card.ExpYear, addr, expectedTotal})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func handleQuote(co *checkout) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		o, err := co.Quote(c.Request.Context(), kit.Caller(c).Subject, kit.BearerToken(c))
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, quoteResponse{Items: o.Items, SubtotalCents: o.SubtotalCents,
			ShippingCents: o.ShippingCents, TotalCents: o.TotalCents, Currency: o.Currency})
		return nil
	})
}

func handleCheckout(co *checkout) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		key := c.GetHeader("Idempotency-Key")
		if key == "" {
			return kit.NewError(http.StatusBadRequest, "idempotency_key_required", "send an Idempotency-Key header (1 to 255 characters)")
		}
		if !idempotencyKeyPattern.MatchString(key) {
			return kit.NewError(http.StatusBadRequest, "idempotency_key_invalid", "the Idempotency-Key must be 1 to 255 visible ASCII characters")
		}
		var req checkoutRequest
		if err := kit.BindJSON(c, &req, maxBody); err != nil {
			return err
		}
		fields := map[string]string{}
		card := validateCard(req.Card, time.Now().UTC(), fields)
		validateAddress(&req.ShippingAddress, fields)
		if req.ExpectedTotalCents == nil || *req.ExpectedTotalCents <= 0 {
			fields["expected_total_cents"] = "is required: the total_cents of GET /checkout/quote that the shopper confirmed"
		}
		if len(fields) > 0 {
			return kit.Invalid(fields)
		}
		in := checkoutInput{User: kit.Caller(c).Subject, Token: kit.BearerToken(c), Key: key, Card: card,
			Address: req.ShippingAddress, ExpectedTotal: *req.ExpectedTotalCents, RequestID: kit.RequestID(c.Request.Context()),
			Fingerprint: checkoutFingerprint(card, req.ShippingAddress, *req.ExpectedTotalCents)}
		out, err := co.Run(c.Request.Context(), in)
		if err != nil {
			return err
		}
		if out.Replayed {
			c.Header("Idempotent-Replayed", "true")
		}
		c.Data(out.Status, "application/json; charset=utf-8", out.Body)
		return nil
	})
}

type ordersResponse struct {
	Items  []Order `json:"items"`
	Total  int     `json:"total"`
	Limit  int     `json:"limit"`
	Offset int     `json:"offset"`
}

func handleOrders(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		qs := kit.NewQuery(c)
		limit, offset := qs.Int("limit", 10, 1, 50), qs.Int("offset", 0, 0, 10_000)
		if err := qs.Err(); err != nil {
			return err
		}
		orders, total, err := st.Orders(c.Request.Context(), kit.Caller(c).Subject, limit, offset)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, ordersResponse{Items: orders, Total: total, Limit: limit, Offset: offset})
		return nil
	})
}

var orderIDPattern = regexp.MustCompile(`^ord_[0-9a-f]{24}$`)

func handleOrder(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		notFound := kit.NotFound("order_not_found", "no such order")
		id := c.Param("id")
		if !orderIDPattern.MatchString(id) {
			return notFound
		}
		o, err := st.Order(c.Request.Context(), kit.Caller(c).Subject, id)
		if errors.Is(err, errNotFound) {
			return notFound
		}
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, orderResponse{Order: o})
		return nil
	})
}
