package api

import "sync/atomic"

// CountLastUsedWrites replaces the "last used" write with a counter (tests of its debounce).
func CountLastUsedWrites(s *Server) *atomic.Int64 {
	var n atomic.Int64
	s.touch = func(string) { n.Add(1) }
	return &n
}
