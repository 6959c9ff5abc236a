package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/roboshop-go/roboshop/kit"
	"golang.org/x/sync/errgroup"
)

const (
	maxBody = 8 << 10
	// Shipping: free from freeShippingFrom, else a flat shippingCents.
	freeShippingFrom = 10_000
	shippingCents    = 599
	// An in-progress key older than this belongs to a request that died.
	staleClaim = time.Minute
	// checkoutTimeout bounds the calls before the charge; after the charge the
	// order is recorded even if the client went away.
	checkoutTimeout = 15 * time.Second
	afterCharge     = 10 * time.Second
)

var idempotencyKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)

type shop interface {
	Cart(ctx context.Context, token string) ([]cartLine, error)
	ClearCart(ctx context.Context, token string) error
	Product(ctx context.Context, sku string) (catalogueProduct, error)
}

type checkoutRequest struct {
	Card            cardInput `json:"card"`
	ShippingAddress Address   `json:"shipping_address"`
}

type orderResponse struct {
	Order Order `json:"order"`
}

// checkoutFingerprint identifies a checkout body for Idempotency-Key replays. It
// is built from the card's brand and last four digits, never its number or CVC,
// so even this hash carries nothing that could be brute-forced back to a card.
func checkoutFingerprint(card Card, addr Address) string {
	raw, _ := json.Marshal(struct {
		Brand, Last4, Holder string
		ExpMonth, ExpYear    int
		Address              Address
	}{card.Brand, card.Last4(), card.Holder, card.ExpMonth, card.ExpYear, addr})
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

func handleCheckout(logger *slog.Logger, st store, sh shop, gw Gateway) gin.HandlerFunc {
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
		if len(fields) > 0 {
			return kit.Invalid(fields)
		}
		user := kit.Caller(c).Subject
		token := kit.BearerToken(c)
		fingerprint := checkoutFingerprint(card, req.ShippingAddress)

		claimed, rec, err := st.ClaimKey(c, user, key, fingerprint, time.Now().Add(-staleClaim))
		if err != nil {
			return err
		}
		if !claimed {
			return replay(c, rec, fingerprint)
		}
		// Until the charge, any failure releases the key so the client can retry it.
		ctx, cancel := context.WithTimeout(c, checkoutTimeout)
		defer cancel()
		order, err := priceCart(ctx, sh, token)
		if err != nil {
			releaseKey(logger, st, user, key)
			return err
		}
		order.ShippingAddress = req.ShippingAddress
		order.Payment = PaymentInfo{Brand: card.Brand, Last4: card.Last4()}

		chargeID, err := gw.Charge(ctx, ChargeRequest{Reference: chargeReference(user, key),
			AmountCents: order.TotalCents, Currency: Currency, Card: card})
		if errors.Is(err, errDeclined) {
			body := declinedBody()
			if err := st.FinishKey(context.WithoutCancel(c), user, key, http.StatusPaymentRequired, body); err != nil {
				releaseKey(logger, st, user, key)
				return err
			}
			c.Data(http.StatusPaymentRequired, "application/json; charset=utf-8", body)
			return nil
		}
		if err != nil {
			releaseKey(logger, st, user, key)
			return errors.Join(kit.ErrUnavailable, err)
		}

		// Charged: record the order even if the client has gone, within afterCharge.
		saveCtx, cancelSave := context.WithTimeout(context.WithoutCancel(c), afterCharge)
		defer cancelSave()
		order.Payment.ID = chargeID
		order.ID = "ord_" + randomHex(12)
		order.Status = "paid"
		order.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
		body, err := json.Marshal(orderResponse{Order: order})
		if err != nil {
			return err
		}
		if err := st.SaveOrder(saveCtx, user, key, order, body); err != nil {
			// No order without its payment, no payment without its order.
			if rerr := gw.Refund(saveCtx, chargeID); rerr != nil {
				logger.Error("order not recorded and refund failed: charge needs manual refund",
					"charge_id", chargeID, "request_id", kit.RequestID(c), "error", rerr.Error())
			}
			releaseKey(logger, st, user, key)
			return err
		}
		if err := sh.ClearCart(saveCtx, token); err != nil {
			// The order stands; the cart is emptied on the shopper's next checkout attempt or by hand.
			logger.Error("order recorded but emptying the cart failed", "order_id", order.ID,
				"request_id", kit.RequestID(c), "error", err.Error())
		}
		c.Data(http.StatusCreated, "application/json; charset=utf-8", body)
		return nil
	})
}

// priceCart reads the caller's cart and prices every line from the catalogue:
// neither the client nor the cart is trusted with a price.
func priceCart(ctx context.Context, sh shop, token string) (Order, error) {
	lines, err := sh.Cart(ctx, token)
	if err != nil {
		return Order{}, err
	}
	if len(lines) == 0 {
		return Order{}, kit.NewError(http.StatusUnprocessableEntity, "cart_empty", "the cart is empty")
	}
	items := make([]OrderLine, len(lines))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, l := range lines {
		g.Go(func() error {
			p, err := sh.Product(gctx, l.SKU)
			if errors.Is(err, errProductGone) {
				return kit.InvalidField("cart", "product "+l.SKU+" is no longer sold; remove it from the cart")
			}
			if err != nil {
				return err
			}
			if l.Qty < 1 || l.Qty > 99 || p.PriceCents <= 0 || p.PriceCents > 100_000_000 {
				return errors.New("cart line or catalogue price out of range for " + l.SKU)
			}
			items[i] = OrderLine{SKU: p.SKU, Name: p.Name, Qty: l.Qty, UnitPriceCents: p.PriceCents,
				LineTotalCents: p.PriceCents * int64(l.Qty)}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Order{}, err
	}
	o := Order{Items: items, Currency: Currency}
	for _, it := range items {
		o.SubtotalCents += it.LineTotalCents
	}
	if o.SubtotalCents < freeShippingFrom {
		o.ShippingCents = shippingCents
	}
	o.TotalCents = o.SubtotalCents + o.ShippingCents
	return o, nil
}

// replay answers a request whose key was used before.
func replay(c *gin.Context, rec keyRecord, hash string) error {
	switch {
	case rec.RequestHash != hash:
		return kit.NewError(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used with a different request; use a new key for a new checkout")
	case rec.State == keyInProgress:
		e := kit.NewError(http.StatusConflict, "checkout_in_progress", "this checkout is still being processed; retry shortly")
		e.Header = map[string]string{"Retry-After": "1"}
		return e
	}
	c.Header("Idempotent-Replayed", "true")
	c.Data(rec.Status, "application/json; charset=utf-8", rec.Body)
	return nil
}

func declinedBody() []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": "payment_declined",
		"message": "the card was declined; try another card"}})
	return b
}

func releaseKey(logger *slog.Logger, st store, user, key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.ReleaseKey(ctx, user, key); err != nil {
		logger.Warn("could not release idempotency key; it frees itself after the stale period", "error", err.Error())
	}
}

// chargeReference is the gateway idempotency reference for (user, key): a retry
// after a crash reuses it, so the gateway never charges the same checkout twice.
func chargeReference(user, key string) string {
	sum := sha256.Sum256([]byte(user + "\x00" + key))
	return "chk_" + hex.EncodeToString(sum[:16])
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
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
		orders, total, err := st.Orders(c, kit.Caller(c).Subject, limit, offset)
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
		o, err := st.Order(c, kit.Caller(c).Subject, id)
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
