package main

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/roboshop-go/roboshop/kit"
)

// Paging bounds for GET /products.
const (
	defaultLimit = 20
	maxLimit     = 100
	maxOffset    = 10_000
	maxSearchLen = 100
)

type listResponse[T any] struct {
	Items []T `json:"items"`
}

func handleCategories(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		cats, err := st.Categories(c.Request.Context())
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, listResponse[Category]{Items: cats})
		return nil
	})
}

func handleProducts(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		q, err := parseProductQuery(c)
		if err != nil {
			return err
		}
		items, total, err := st.Products(c.Request.Context(), q)
		if err != nil {
			return err
		}
		// {"items":[...],"total":N,"limit":L,"offset":O}, from pre-encoded items.
		size := 64
		for _, it := range items {
			size += len(it) + 1
		}
		buf := append(make([]byte, 0, size), `{"items":[`...)
		for i, it := range items {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, it...)
		}
		buf = strconv.AppendInt(append(buf, `],"total":`...), total, 10)
		buf = strconv.AppendInt(append(buf, `,"limit":`...), int64(q.Limit), 10)
		buf = strconv.AppendInt(append(buf, `,"offset":`...), int64(q.Offset), 10)
		c.Data(http.StatusOK, jsonContentType, append(buf, '}'))
		return nil
	})
}

func handleProduct(st store) gin.HandlerFunc {
	return kit.Handle(func(c *gin.Context) error {
		sku := c.Param("sku")
		notFound := kit.NotFound("product_not_found", "no product with this SKU")
		if !skuPattern.MatchString(sku) {
			return notFound // cannot exist; no need to ask the datastore
		}
		p, err := st.Product(c.Request.Context(), sku)
		if errors.Is(err, errNotFound) {
			return notFound
		}
		if err != nil {
			return err
		}
		c.Data(http.StatusOK, jsonContentType, p)
		return nil
	})
}

const jsonContentType = "application/json; charset=utf-8"

// parseProductQuery validates the query string, naming every bad parameter.
func parseProductQuery(c *gin.Context) (productQuery, error) {
	qs := kit.NewQuery(c)
	q := productQuery{Limit: qs.Int("limit", defaultLimit, 1, maxLimit), Offset: qs.Int("offset", 0, 0, maxOffset)}
	if raw, ok := qs.String("skus"); ok {
		q.SKUs = strings.Split(raw, ",")
		if len(raw) > maxLimit*8 || len(q.SKUs) > maxLimit || slices.ContainsFunc(q.SKUs, func(sku string) bool { return !skuPattern.MatchString(sku) }) {
			qs.Fail("skus", "must be 1 to "+strconv.Itoa(maxLimit)+" comma-separated SKUs such as DR-001,AR-002")
		}
	}
	if raw, ok := qs.String("category"); ok && raw != "" {
		if len(raw) > 40 || !slugPattern.MatchString(raw) {
			qs.Fail("category", "must be a category slug such as \"drones\"")
		}
		q.Category = raw
	}
	if raw, ok := qs.String("q"); ok {
		if msg := checkSearch(raw); msg != "" {
			qs.Fail("q", msg)
		}
		q.Search = raw
	}
	if raw, ok := qs.String("sort"); ok && raw != "" {
		if !slices.Contains(sortOrders, raw) {
			qs.Fail("sort", "must be one of "+strings.Join(sortOrders, ", "))
		}
		q.Sort = raw
	}
	if raw, ok := qs.String("featured"); ok {
		if raw != "true" && raw != "false" {
			qs.Fail("featured", "must be true or false")
		}
		q.Featured = raw == "true"
	}
	if err := qs.Err(); err != nil {
		return productQuery{}, err
	}
	return q, nil
}

func checkSearch(s string) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8 text"
	}
	if utf8.RuneCountInString(s) > maxSearchLen {
		return "must be at most " + strconv.Itoa(maxSearchLen) + " characters"
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "must not contain control characters"
		}
	}
	return ""
}
