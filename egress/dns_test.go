package egress

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// fakeDNS answers A/AAAA queries from a map, entirely in memory: the
// resolver's Dial gets one end of a net.Pipe, so no packet leaves the
// process (the machine's configured nameserver is never contacted).
//
// answer, when set, decides per query and may change its mind between
// queries, which is how the rebinding test flips a name from public to
// loopback.
type fakeDNS struct {
	mu      sync.Mutex
	records map[string][]netip.Addr // lowercased name without trailing dot
	answer  func(name string, n int) []netip.Addr
	queries map[string]int
}

func newFakeDNS(records map[string][]string) *fakeDNS {
	f := &fakeDNS{records: map[string][]netip.Addr{}, queries: map[string]int{}}
	for name, addrs := range records {
		for _, a := range addrs {
			f.records[name] = append(f.records[name], netip.MustParseAddr(a))
		}
	}
	return f
}

// resolver returns a pure-Go resolver whose every connection is served by f.
func (f *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			client, server := net.Pipe()
			go f.serve(server)
			return client, nil
		},
	}
}

// lookups returns how many A queries were answered for name.
func (f *fakeDNS) lookups(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queries[name]
}

// serve speaks DNS over a stream (2-byte length framing): net.Pipe is not a
// PacketConn, so Go's resolver uses the TCP framing on it.
func (f *fakeDNS) serve(c net.Conn) {
	defer c.Close()
	for {
		var lenBuf [2]byte
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		resp, err := f.respond(msg)
		if err != nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

func (f *fakeDNS) respond(q []byte) ([]byte, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil, errors.New("want exactly one question")
	}
	// Walk the question name.
	i := 12
	var labels []string
	for {
		if i >= len(q) {
			return nil, errors.New("short question")
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if i+l > len(q) {
			return nil, errors.New("short label")
		}
		labels = append(labels, string(q[i:i+l]))
		i += l
	}
	if i+4 > len(q) {
		return nil, errors.New("short question")
	}
	qtype := binary.BigEndian.Uint16(q[i : i+2])
	question := q[12 : i+4]
	name := strings.ToLower(strings.Join(labels, "."))

	f.mu.Lock()
	addrs, known := f.records[name]
	if qtype == 1 {
		f.queries[name]++
	}
	if f.answer != nil {
		addrs = f.answer(name, f.queries[name])
		known = addrs != nil
	}
	f.mu.Unlock()

	var answers [][]byte
	for _, a := range addrs {
		var rdata []byte
		switch {
		case qtype == 1 && a.Is4():
			b := a.As4()
			rdata = b[:]
		case qtype == 28 && a.Is6():
			b := a.As16()
			rdata = b[:]
		default:
			continue
		}
		rr := []byte{0xc0, 0x0c} // pointer to the question name
		rr = binary.BigEndian.AppendUint16(rr, qtype)
		rr = binary.BigEndian.AppendUint16(rr, 1) // class IN
		rr = binary.BigEndian.AppendUint32(rr, 60)
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
		answers = append(answers, append(rr, rdata...))
	}
	flags := uint16(0x8580) // QR, AA, RD, RA
	if !known {
		flags |= 3 // NXDOMAIN
	}
	resp := make([]byte, 0, 512)
	resp = append(resp, q[0], q[1])
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = binary.BigEndian.AppendUint16(resp, 0)
	resp = append(resp, question...)
	for _, rr := range answers {
		resp = append(resp, rr...)
	}
	return resp, nil
}

func TestFakeDNSAnswers(t *testing.T) {
	f := newFakeDNS(map[string][]string{"a.test": {"192.0.2.1", "2001:db8::1"}})
	addrs, err := f.resolver().LookupNetIP(context.Background(), "ip", "a.test")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, a := range addrs {
		got[a.String()] = true
	}
	if !got["192.0.2.1"] || !got["2001:db8::1"] || len(got) != 2 {
		t.Fatalf("unexpected answer %v", addrs)
	}
	if _, err := f.resolver().LookupNetIP(context.Background(), "ip", "missing.test"); err == nil {
		t.Fatal("expected NXDOMAIN")
	}
}
