package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/roboshop-go/roboshop/kit"
)

// maxBody bounds cart request bodies: a SKU and a quantity, or one token.
const maxBody = 8 << 10

var (
	skuPattern            = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)
	idempotencyKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
	orderIDPattern        = regexp.MustCompile(`^ord_[0-9a-f]{24}$`)
)

// cartTTL is how long a cart lives after its last write: guests' carts, which
// anyone can make without an account, go sooner than users'.
type cartTTL struct{ Guest, User time.Duration }

func (t cartTTL) of(role string) time.Duration {
	if role == kit.RoleUser {
		return t.User
	}
	return t.Guest
}

// newWrite describes the caller's write to their own cart. A client that may
// retry sends an Idempotency-Key; the key is tied to the request it first came
// with (method, path and body), so reusing it for another request is a 422.
func newWrite(c *gin.Context, ttl cartTTL, body any) (write, error) {
	caller := kit.Caller(c)
	w := write{Owner: caller.Subject, TTL: ttl.of(caller.Role), Key: c.GetHeader("Idempotency-Key"), Space: spaceClient}
	if w.Key == "" {
		return w, nil
	}
	if !idempotencyKeyPattern.MatchString(w.Key) {
		return w, kit.NewError(http.StatusBadRequest, "idempotency_key_invalid", "the Idempotency-Key must be 1 to 255 visible ASCII characters")
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return w, err
	}
	w.Hash = fingerprint(c.Request.Method, c.Request.URL.Path, string(raw))
	return w, nil
}

func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

type catalogue interface {
	Product(ctx context.Context, sku string) (product, error)
}

type cartItem struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Qty            int    `json:"qty"`
	UnitPriceCents int64  `json:"unit_price_cents"`
	LineTotalCents int64  `json:"line_total_cents"`
}

type cartResponse struct {
	Items         []cartItem `json:"items"`
	ItemCount     int        `json:"item_count"`
	SubtotalCents int64      `json:"subtotal_cents"`
	// NotMerged lists guest SKUs that did not fit (line limit) after a merge.
	NotMerged []string `json:"not_merged,omitempty"`
}

func newCartResponse(lines []Line) cartResponse {
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].Added != lines[j].Added {
			return lines[i].Added < lines[j].Added
		}
		return lines[i].SKU < lines[j].SKU
	})
	resp := cartResponse{Items: make([]cartItem, 0, len(lines))}
	for _, l := range lines {
		total := l.UnitPriceCents * int64(l.Qty)
		resp.Items = append(resp.Items, cartItem{SKU: l.SKU, Name: l.Name, Qty: l.Qty,
			UnitPriceCents: l.UnitPriceCents, LineTotalCents: total})
		resp.ItemCount += l.Qty
		resp.SubtotalCents += total
	}
	return resp
}

// insufficientStock is the 422 for a line above the product's stock: it
// names the SKU and how many are left.
func insufficientStock(sku string, left int) error {
	return &kit.Error{Status: http.StatusUnprocessableEntity, Code: "insufficient_stock",
		Message: fmt.Sprintf("only %d of %s left in stock", left, sku),
		Fields:  map[string]string{"qty": fmt.Sprintf("at most %d of %s (in stock)", left, sku)}}
}

// stockOf is the stock of each product in owner's cart, for a merge: a
// product no longer sold counts as none left. A catalogue that does not
// answer fails the merge (503): the guest's cart stays as it is.
func stockOf(ctx context.Context, st store, cat catalogue, owner string) (map[string]int, error) {
	lines, err := st.Cart(ctx, owner)
	if err != nil {
		return nil, err
	}
	most := make(map[string]int, len(lines))
	for _, l := range lines {
		p, err := cat.Product(ctx, l.SKU)
		switch {
		case errors.Is(err, errUnknownSKU):
			most[l.SKU] = 0
		case err != nil:
			return nil, err
		default:
			most[l.SKU] = p.Stock
		}
	}
	return most, nil
}

// cartError is the one place cart and catalogue errors become API errors.
func cartError(err error) error {
	switch {
	case errors.Is(err, errUnknownSKU):
		return kit.NotFound("product_not_found", "no product with this SKU")
	case errors.Is(err, errNoLine):
		return kit.NotFound("item_not_in_cart", "this product is not in the cart")
	case errors.Is(err, errQtyLimit):
		return kit.InvalidField("qty", "a cart line holds at most "+strconv.Itoa(maxQty))
	case errors.Is(err, errLineLimit):
		return kit.InvalidField("sku", "a cart holds at most "+strconv.Itoa(maxLines)+" different products")
	case errors.Is(err, errKeyReused):
		return kit.NewError(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was used with a different request; use a new key for a new change")
	}
	return err
}

// markReplayed tells the client its write had been applied before.
func markReplayed(c *gin.Context, replayed bool) {
	if replayed {
		c.Header("Idempotent-Replayed", "true")
	}
}

// respondCart answers with the cart: as the write left it, or, for a read or a
// replayed write (which says so), as it is now.
func respondCart(c *gin.Context, st store, owner string, lines []Line, notMerged []string, replayed bool) error {
	markReplayed(c, replayed)
	if lines == nil {
		var err error
		if lines, err = st.Cart(c.Request.Context(), owner); err != nil {
			return err
		}
	}
	resp := newCartResponse(lines)
	resp.NotMerged = notMerged
	c.JSON(http.StatusOK, resp)
	return nil
}

func handleGetCart(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		return respondCart(c, st, kit.Caller(c).Subject, nil, nil, false)
	})
}

type addRequest struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

func handleAddItem(st store, cat catalogue, ttl cartTTL) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		var req addRequest
		if err := kit.BindJSON(c, &req, maxBody); err != nil {
			return err
		}
		fields := map[string]string{}
		if !skuPattern.MatchString(req.SKU) {
			fields["sku"] = "must be a product SKU"
		}
		if req.Qty < 1 || req.Qty > maxQty {
			fields["qty"] = "must be from 1 to " + strconv.Itoa(maxQty)
		}
		if len(fields) > 0 {
			return kit.Invalid(fields)
		}
		w, err := newWrite(c, ttl, req)
		if err != nil {
			return err
		}
		return upsertLine(c, st, cat, w, req.SKU, req.Qty, st.Add)
	})
}

type setRequest struct {
	Qty int `json:"qty"`
}

func handleSetItem(st store, cat catalogue, ttl cartTTL) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		sku := c.Param("sku")
		if !skuPattern.MatchString(sku) {
			return cartError(errNoLine)
		}
		var req setRequest
		if err := kit.BindJSON(c, &req, maxBody); err != nil {
			return err
		}
		if req.Qty < 0 || req.Qty > maxQty {
			return kit.InvalidField("qty", "must be from 0 (remove) to "+strconv.Itoa(maxQty))
		}
		w, err := newWrite(c, ttl, req)
		if err != nil {
			return err
		}
		if req.Qty == 0 {
			lines, replayed, err := st.Remove(c.Request.Context(), w, sku)
			if err != nil && !errors.Is(err, errNoLine) {
				return cartError(err)
			}
			return respondCart(c, st, w.Owner, lines, nil, replayed)
		}
		return upsertLine(c, st, cat, w, sku, req.Qty, st.Set)
	})
}

// upsertLine prices the SKU from the catalogue before writing, so an unknown SKU
// or an unreachable catalogue changes nothing.
func upsertLine(c *gin.Context, st store, cat catalogue, w write, sku string, qty int,
	apply func(context.Context, write, Line) ([]Line, bool, error)) error {
	p, err := cat.Product(c.Request.Context(), sku)
	if err != nil {
		return cartError(err)
	}
	// The line may hold no more than is in stock: the catalogue's figure
	// (cached for PRODUCT_CACHE_TTL). Nothing is reserved, so two carts may each
	// hold the last one; payment checks again at the quote and the checkout.
	if p.Stock < 1 {
		return insufficientStock(p.SKU, 0)
	}
	lines, replayed, err := apply(c.Request.Context(), w, Line{SKU: p.SKU, Name: p.Name, Qty: qty, UnitPriceCents: p.PriceCents, Most: p.Stock})
	if errors.Is(err, errStock) {
		return insufficientStock(p.SKU, p.Stock)
	}
	if err != nil {
		return cartError(err)
	}
	return respondCart(c, st, w.Owner, lines, nil, replayed)
}

func handleRemoveItem(st store, ttl cartTTL) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		sku := c.Param("sku")
		if !skuPattern.MatchString(sku) {
			return cartError(errNoLine)
		}
		w, err := newWrite(c, ttl, nil)
		if err != nil {
			return err
		}
		lines, replayed, err := st.Remove(c.Request.Context(), w, sku)
		if err != nil {
			return cartError(err)
		}
		return respondCart(c, st, w.Owner, lines, nil, replayed)
	})
}

func handleClear(st store, ttl cartTTL) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		w, err := newWrite(c, ttl, nil)
		if err != nil {
			return err
		}
		replayed, err := st.Clear(c.Request.Context(), w)
		if err != nil {
			return cartError(err)
		}
		markReplayed(c, replayed)
		c.Status(http.StatusNoContent)
		return nil
	})
}

type mergeRequest struct {
	GuestToken string `json:"guest_token"`
}

// handleMerge folds a guest cart into the caller's. Holding a valid guest token
// is what proves the guest cart is the caller's to take.
func handleMerge(st store, cat catalogue, verifier *kit.Verifier, ttl cartTTL) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		var req mergeRequest
		if err := kit.BindJSON(c, &req, maxBody); err != nil {
			return err
		}
		if req.GuestToken == "" {
			return kit.InvalidField("guest_token", "is required")
		}
		guest, err := verifier.Verify(c.Request.Context(), req.GuestToken)
		if errors.Is(err, kit.ErrUnavailable) {
			return err
		}
		if err != nil || guest.Role != kit.RoleGuest {
			return kit.InvalidField("guest_token", "must be a valid, unexpired guest token")
		}
		w, err := newWrite(c, ttl, req)
		if err != nil {
			return err
		}
		most, err := stockOf(c.Request.Context(), st, cat, guest.Subject)
		if err != nil {
			return cartError(err)
		}
		lines, notMerged, replayed, err := st.Merge(c.Request.Context(), w, guest.Subject, most)
		if err != nil {
			return cartError(err)
		}
		return respondCart(c, st, w.Owner, lines, notMerged, replayed)
	})
}

type settleItem struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

type settleRequest struct {
	OrderID string       `json:"order_id"`
	Items   []settleItem `json:"items"`
}

// handleSettle is payment's call after an order is recorded: it takes the
// ordered quantities out of the caller's cart, once per order whatever the
// retries, and leaves what was added while the checkout ran.
func handleSettle(st store, ttl cartTTL) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		var req settleRequest
		if err := kit.BindJSON(c, &req, maxBody); err != nil {
			return err
		}
		fields := map[string]string{}
		if !orderIDPattern.MatchString(req.OrderID) {
			fields["order_id"] = "must be an order id"
		}
		if len(req.Items) == 0 || len(req.Items) > maxLines {
			fields["items"] = "must hold 1 to " + strconv.Itoa(maxLines) + " lines"
		}
		ordered := make([]Line, 0, len(req.Items))
		for _, it := range req.Items {
			if !skuPattern.MatchString(it.SKU) || it.Qty < 1 || it.Qty > maxQty {
				fields["items"] = "every line needs a SKU and a qty from 1 to " + strconv.Itoa(maxQty)
			}
			ordered = append(ordered, Line{SKU: it.SKU, Qty: it.Qty})
		}
		if len(fields) > 0 {
			return kit.Invalid(fields)
		}
		caller := kit.Caller(c)
		raw, _ := json.Marshal(req.Items)
		w := write{Owner: caller.Subject, TTL: ttl.of(caller.Role), Key: req.OrderID, Hash: fingerprint(string(raw)), Space: spaceSettle}
		lines, replayed, err := st.Settle(c.Request.Context(), w, ordered)
		if err != nil {
			return cartError(err)
		}
		return respondCart(c, st, w.Owner, lines, nil, replayed)
	})
}
