package main

import (
	"errors"
	"net/http"
	"strconv"
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
		cats, err := st.Categories(c)
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
		items, total, err := st.Products(c, q)
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
		p, err := st.Product(c, sku)
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
	q := productQuery{Limit: defaultLimit}
	fields := map[string]string{}
	single := func(name string) (string, bool) {
		vals := c.QueryArray(name)
		if len(vals) > 1 {
			fields[name] = "must be given at most once"
			return "", false
		}
		if len(vals) == 0 {
			return "", false
		}
		return vals[0], true
	}
	number := func(name string, lo, hi int, dst *int) {
		if raw, ok := single(name); ok {
			n, err := strconv.Atoi(raw)
			if err != nil || n < lo || n > hi {
				fields[name] = "must be a whole number from " + strconv.Itoa(lo) + " to " + strconv.Itoa(hi)
				return
			}
			*dst = n
		}
	}
	number("limit", 1, maxLimit, &q.Limit)
	number("offset", 0, maxOffset, &q.Offset)
	if raw, ok := single("category"); ok && raw != "" {
		if len(raw) > 40 || !slugPattern.MatchString(raw) {
			fields["category"] = "must be a category slug such as \"drones\""
		}
		q.Category = raw
	}
	if raw, ok := single("q"); ok {
		if msg := checkSearch(raw); msg != "" {
			fields["q"] = msg
		}
		q.Search = raw
	}
	if len(fields) > 0 {
		return productQuery{}, kit.Invalid(fields)
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
