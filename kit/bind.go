package kit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// DefaultMaxBody bounds a JSON request body; every API body here is far smaller.
const DefaultMaxBody = 16 << 10

// BindJSON decodes exactly one JSON object from the body into dst. It bounds the
// body to maxBytes (413 beyond), rejects unknown fields and wrong types (422 naming
// the field) and malformed JSON or trailing data (400).
func BindJSON(c *gin.Context, dst any, maxBytes int64) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return NewError(http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json")
		}
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, maxBytes)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return tooLarge(maxBytes)
		}
		return NewError(http.StatusBadRequest, "malformed_json", "the body must be a single JSON object")
	}
	return nil
}

func tooLarge(maxBytes int64) *Error {
	return NewError(http.StatusRequestEntityTooLarge, "body_too_large",
		fmt.Sprintf("the body must be at most %d bytes", maxBytes))
}

func decodeError(err error, maxBytes int64) error {
	var (
		maxErr    *http.MaxBytesError
		typeErr   *json.UnmarshalTypeError
		syntaxErr *json.SyntaxError
	)
	switch {
	case errors.As(err, &maxErr):
		return tooLarge(maxBytes)
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return NewError(http.StatusBadRequest, "malformed_json", "the body must be a JSON object")
		}
		return InvalidField(field, "must be a "+jsonKind(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return NewError(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one; the message format is stable.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return InvalidField(name, "unknown field")
	default:
		return NewError(http.StatusBadRequest, "malformed_json", "the body is not valid JSON")
	}
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "number"
	case goKind == "string":
		return "string"
	case goKind == "bool":
		return "boolean"
	case goKind == "slice", goKind == "array":
		return "list"
	default:
		return "object"
	}
}
