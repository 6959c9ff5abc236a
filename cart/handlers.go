package main

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"sort"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/roboshop-go/roboshop/kit"
)

// maxBody bounds cart request bodies: a SKU and a quantity, or one token.
const maxBody = 8 << 10

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,32}$`)

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
	}
	return err
}

func respondCart(c *gin.Context, st store, owner string, notMerged []string) error {
	lines, err := st.Cart(c, owner)
	if err != nil {
		return err
	}
	resp := newCartResponse(lines)
	resp.NotMerged = notMerged
	c.JSON(http.StatusOK, resp)
	return nil
}

func handleGetCart(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		return respondCart(c, st, kit.Caller(c).Subject, nil)
	})
}

type addRequest struct {
	SKU string `json:"sku"`
	Qty int    `json:"qty"`
}

func handleAddItem(st store, cat catalogue) gin.HandlerFunc {
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
		return upsertLine(c, st, cat, req.SKU, req.Qty, st.Add)
	})
}

type setRequest struct {
	Qty int `json:"qty"`
}

func handleSetItem(st store, cat catalogue) gin.HandlerFunc {
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
		owner := kit.Caller(c).Subject
		if req.Qty == 0 {
			if err := st.Remove(c, owner, sku); err != nil && !errors.Is(err, errNoLine) {
				return err
			}
			return respondCart(c, st, owner, nil)
		}
		return upsertLine(c, st, cat, sku, req.Qty, st.Set)
	})
}

// upsertLine prices the SKU from the catalogue before writing, so an unknown SKU
// or an unreachable catalogue changes nothing.
func upsertLine(c *gin.Context, st store, cat catalogue, sku string, qty int,
	write func(context.Context, string, Line) error) error {
	p, err := cat.Product(c, sku)
	if err != nil {
		return cartError(err)
	}
	owner := kit.Caller(c).Subject
	if err := write(c, owner, Line{SKU: p.SKU, Name: p.Name, Qty: qty, UnitPriceCents: p.PriceCents}); err != nil {
		return cartError(err)
	}
	return respondCart(c, st, owner, nil)
}

func handleRemoveItem(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		sku, owner := c.Param("sku"), kit.Caller(c).Subject
		if !skuPattern.MatchString(sku) {
			return cartError(errNoLine)
		}
		if err := st.Remove(c, owner, sku); err != nil {
			return cartError(err)
		}
		return respondCart(c, st, owner, nil)
	})
}

func handleClear(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		if err := st.Clear(c, kit.Caller(c).Subject); err != nil {
			return err
		}
		c.Status(http.StatusNoContent)
		return nil
	})
}

type mergeRequest struct {
	GuestToken string `json:"guest_token"`
}

// handleMerge folds a guest cart into the caller's. Holding a valid guest token
// is what proves the guest cart is the caller's to take.
func handleMerge(st store, verifier *kit.Verifier) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		var req mergeRequest
		if err := kit.BindJSON(c, &req, maxBody); err != nil {
			return err
		}
		if req.GuestToken == "" {
			return kit.InvalidField("guest_token", "is required")
		}
		guest, err := verifier.Verify(c, req.GuestToken)
		if errors.Is(err, kit.ErrUnavailable) {
			return err
		}
		if err != nil || guest.Role != kit.RoleGuest {
			return kit.InvalidField("guest_token", "must be a valid, unexpired guest token")
		}
		owner := kit.Caller(c).Subject
		notMerged, err := st.Merge(c, owner, guest.Subject)
		if err != nil {
			return err
		}
		return respondCart(c, st, owner, notMerged)
	})
}
