// Package opt holds the helpers for optional values, where a nil pointer means "absent" (a
// NULL column, a JSON null, a flag not given). It imports nothing, so any package may use it.
package opt

// String is s as an optional value: nil for "".
func String(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Deref is *p, or the zero value when p is nil.
func Deref[T any](p *T) T {
	if p == nil {
		var zero T
		return zero
	}
	return *p
}

// Or is *p, or def when p is nil.
func Or[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// Ptr is a pointer to a copy of v.
func Ptr[T any](v T) *T { return &v }
