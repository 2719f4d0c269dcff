package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/dualhook/dualhook/internal/apierr"
)

// decodeJSON reads the body into dst. An empty body decodes as {}. Malformed JSON and wrong field
// types answer 400 invalid_request with details.fields; unknown fields are ignored (SPEC §1).
// A string anywhere in the body (a value or a key, known field or not) that PostgreSQL cannot
// store is refused too, naming its JSON path (storable).
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
	if path, problem := unstorableString(raw); problem != "" {
		if path == "" {
			path = "body" // a key "" at the top
		}
		return apierr.InvalidFields(map[string]string{path: problem})
	}
	return nil
}

// unstorableString finds the first string in a valid JSON document that PostgreSQL would refuse:
// NUL (\u0000), which neither text nor jsonb can hold, or an unpaired UTF-16 surrogate escape
// (\ud800 alone), which jsonb refuses (Go would decode it as U+FFFD, but json.RawMessage fields
// such as metadata reach jsonb as sent). Both can only be written as escapes, since raw control
// bytes are a JSON syntax error and the body is valid UTF-8. Other control characters are left to
// the fields' own rules: metadata may hold a newline. It returns the string's path — metadata.note,
// eventTypes[0]; the enclosing object's for a key, "body" at the top — and the problem.
func unstorableString(raw []byte) (path, problem string) {
	if !bytes.Contains(raw, []byte(`\u`)) {
		return "", "" // no escape, nothing to find (the usual body)
	}
	type frame struct {
		object    bool
		key       string // object: the last key read
		wantKey   bool   // object: the next string is a key
		index     int    // array: the next element's index
		container string // the container's own path
	}
	var stack []*frame
	pathOf := func(f *frame) string {
		var seg string
		if f.object {
			seg = f.key
			if f.container != "" {
				seg = "." + seg
			}
		} else {
			seg = fmt.Sprintf("[%d]", f.index)
		}
		return f.container + seg
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return "", "" // io.EOF; the document was decoded once already
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if s, ok := tok.(string); ok {
			if p := badEscape(raw[start:dec.InputOffset()]); p != "" {
				switch {
				case top == nil:
					return "body", p
				case top.object && top.wantKey:
					if top.container == "" {
						return "body", p + " in a key"
					}
					return top.container, p + " in a key"
				default:
					return pathOf(top), p
				}
			}
			if top != nil && top.object && top.wantKey {
				top.key, top.wantKey = s, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			container := ""
			if top != nil {
				container = pathOf(top)
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), wantKey: true, container: container})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return "", ""
			}
			top = stack[len(stack)-1]
		}
		// A value ended (a scalar, or a container just closed): move the enclosing one on.
		if top != nil {
			if top.object {
				top.wantKey = true
			} else {
				top.index++
			}
		}
	}
}

// badEscape checks the \u escapes of one raw JSON token (with what preceded it since the last
// token: separators and spaces, never a backslash outside a string).
func badEscape(tok []byte) string {
	for i := 0; i < len(tok); i++ {
		if tok[i] != '\\' {
			continue
		}
		i++ // the escaped character
		if i >= len(tok) || tok[i] != 'u' || i+4 >= len(tok) {
			continue
		}
		r, err := strconv.ParseUint(string(tok[i+1:i+5]), 16, 16)
		if err != nil {
			continue
		}
		i += 4
		switch {
		case r == 0:
			return "must not contain the NUL character (\\u0000)"
		case r >= 0xdc00 && r <= 0xdfff:
			return "must not contain an unpaired UTF-16 surrogate"
		case r >= 0xd800 && r <= 0xdbff:
			// A high surrogate must be followed at once by an escaped low one.
			if i+6 < len(tok) && tok[i+1] == '\\' && tok[i+2] == 'u' {
				if lo, err := strconv.ParseUint(string(tok[i+3:i+7]), 16, 16); err == nil && lo >= 0xdc00 && lo <= 0xdfff {
					i += 6
					continue
				}
			}
			return "must not contain an unpaired UTF-16 surrogate"
		}
	}
	return ""
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

// checkQuery refuses, on the API's routes, a query parameter that no filter, cursor or limit can
// legitimately hold and that PostgreSQL would refuse or mis-store: invalid UTF-8 or a control
// character — C0 (tab included: tenantId is printable, ids and timestamps have no spaces of any
// kind) or DEL. 400 invalid_request names the parameter. It runs after authentication, so an
// unauthenticated request still gets 401 first.
func (s *Server) checkQuery(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		bad := problems{}
		for name, values := range c.QueryParams() {
			if problem := queryProblem(name); problem != "" {
				bad.add("query", "a parameter name %s", problem)
				continue
			}
			for _, v := range values {
				if problem := queryProblem(v); problem != "" {
					bad.add(name, "%s", problem)
				}
			}
		}
		if err := bad.err(); err != nil {
			return err
		}
		return next(c)
	}
}

func queryProblem(v string) string {
	switch {
	case !utf8.ValidString(v):
		return "is not valid UTF-8"
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "must not contain control characters"
	}
	return ""
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
