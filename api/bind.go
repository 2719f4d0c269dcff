package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/internal/apierr"
)

// decodeJSON reads the body into dst. An empty body decodes as {}. Malformed JSON and wrong field
// types answer 400 invalid_request with details.fields; unknown fields are ignored (SPEC §1).
func decodeJSON(c echo.Context, dst any) error {
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}")
	}
	if !utf8.Valid(raw) {
		return apierr.InvalidFields(map[string]string{"body": "is not valid UTF-8"})
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field == "":
			return apierr.InvalidFields(map[string]string{"body": "must be a JSON object"})
		case errors.As(err, &typeErr):
			return apierr.InvalidFields(map[string]string{typeErr.Field: "must be " + jsonKind(typeErr.Type.Kind().String())})
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return apierr.InvalidFields(map[string]string{"body": "is not valid JSON"})
		default:
			var fe *fieldError
			if errors.As(err, &fe) {
				return apierr.InvalidFields(map[string]string{fe.field: fe.problem})
			}
			return apierr.InvalidFields(map[string]string{"body": "is not valid JSON"})
		}
	}
	if dec.More() {
		return apierr.InvalidFields(map[string]string{"body": "must hold exactly one JSON value"})
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int32", "int64", "uint", "uint32", "uint64", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}

type fieldError struct{ field, problem string }

func (e *fieldError) Error() string { return e.field + " " + e.problem }

// Optional distinguishes an absent field from an explicit null in PATCH bodies.
type Optional[T any] struct {
	Set   bool // the field appeared
	Null  bool // it was null
	Value T
}

// UnmarshalJSON is only called when the field is present.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// problems collects field → problem while validating a request.
type problems map[string]string

func (p problems) add(field, format string, args ...any) {
	if _, exists := p[field]; !exists {
		p[field] = fmt.Sprintf(format, args...)
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return apierr.InvalidFields(p)
}

// checkText validates a required or optional string's length in characters.
func (p problems) checkText(field, v string, min, max int) {
	n := utf8.RuneCountInString(v)
	if n < min || n > max {
		if min == max {
			p.add(field, "must be %d characters", min)
		} else {
			p.add(field, "must be %d to %d characters", min, max)
		}
		return
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		p.add(field, "must not contain control characters")
	}
}
