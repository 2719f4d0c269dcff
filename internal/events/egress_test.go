package events_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/egress"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/events"
	"github.com/dualhook/dualhook/testkit/eventstest"
)

// trap is a listener that must never get a connection. untouched proves it: the kernel queues
// completed handshakes in order, so if a sentinel connection made now is the first one accepted,
// nothing connected before it.
type trap struct {
	ln       net.Listener
	accepted chan net.Conn
}

func newTrap(t *testing.T, network, addr string) *trap {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil
	}
	tr := &trap{ln: ln, accepted: make(chan net.Conn, 64)}
	go func() {
		defer close(tr.accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for c := range tr.accepted {
			c.Close()
		}
	})
	return tr
}

func (tr *trap) untouched(t *testing.T) {
	t.Helper()
	sentinel, err := net.Dial(tr.ln.Addr().Network(), tr.ln.Addr().String())
	require.NoError(t, err)
	defer sentinel.Close()
	select {
	case c := <-tr.accepted:
		defer c.Close()
		assert.Equal(t, sentinel.LocalAddr().String(), c.RemoteAddr().String(),
			"%s got a connection before the sentinel: a refused delivery reached it", tr.ln.Addr())
	case <-time.After(5 * time.Second):
		t.Fatal("the sentinel was never accepted")
	}
}

// The SSRF corpus of SPEC §12, aimed at listeners on this machine: every delivery must be
// refused before a connection is made, in production mode and in dev mode (whose loopback
// relaxation covers exactly localhost, 127.0.0.1 and [::1]). The URLs are stored bypassing the
// API's validation, as if DNS had changed since they were accepted.
func TestSSRFCorpusIsRefusedBeforeAnyConnection(t *testing.T) {
	t.Parallel()
	v4 := newTrap(t, "tcp4", "127.0.0.1:0")
	require.NotNil(t, v4)
	port := v4.ln.Addr().(*net.TCPAddr).Port
	// The IPv6 loopback gets a trap on the same port when the machine has one.
	v6 := newTrap(t, "tcp6", fmt.Sprintf("[::1]:%d", port))

	production := []string{
		"https://127.0.0.1:%d/hook",
		"https://localhost:%d/hook",
		"https://api.localhost:%d/hook",
		"https://[::ffff:127.0.0.1]:%d/hook",
		"https://[::ffff:7f00:1]:%d/hook",
		"https://2130706433:%d/hook",
		"https://0x7f000001:%d/hook",
		"https://0177.0.0.1:%d/hook",
		"https://127.1:%d/hook",
		"https://127.0.0.1.:%d/hook",
		"https://0.0.0.0:%d/hook",
		"https://0:%d/hook",
		"http://127.0.0.1:%d/hook",
		"https://user:pass@127.0.0.1:%d/hook",
		"https://[::1]:%d/hook",
		"https://[::]:%d/hook",
		"https://[0:0:0:0:0:0:0:1]:%d/hook",
	}
	// Names that pass the URL check and resolve (through an in-process DNS server) to loopback:
	// refused at dial time, on the address actually being connected.
	resolved := []string{
		"https://hooks.partner.test:%d/hook",
		"https://v6.partner.test:%d/hook",
		"https://mapped.partner.test:%d/hook",
	}
	production = append(production, resolved...)
	dev := []string{
		"http://127.1:%d/hook",
		"http://[::ffff:127.0.0.1]:%d/hook",
		"http://0.0.0.0:%d/hook",
		"http://[::]:%d/hook",
		"http://localhost.:%d/hook",
		"http://2130706433:%d/hook",
		"http://api.localhost:%d/hook",
		"http://127.0.0.2:%d/hook",
	}
	dev = append(dev, resolved...)
	dns := loopbackDNS(map[string][]netip.Addr{
		"hooks.partner.test":  {netip.MustParseAddr("127.0.0.1")},
		"v6.partner.test":     {netip.MustParseAddr("::1")},
		"mapped.partner.test": {netip.MustParseAddr("::ffff:127.0.0.1")},
	})
	run := func(t *testing.T, policy egress.Policy, corpus []string) {
		s := eventstest.New(t, eventstest.Options{Egress: &policy, Schedule: []time.Duration{10 * time.Millisecond}})
		s.StartWorker()
		placeholder := "http://127.0.0.1:1/placeholder"
		var runs []client.WorkflowRun
		for _, pattern := range corpus {
			url := fmt.Sprintf(pattern, port)
			partner, _ := s.NewPartner(&placeholder, nil)
			s.SetWebhookURL(partner.ID, &url)
			runs = append(runs, s.Start(eventstest.EmitInput{PartnerID: partner.ID, Events: []eventstest.EventSpec{completed("t")}}))
		}
		for i, r := range runs {
			var out eventstest.EmitOutput
			require.NoError(t, r.Get(context.Background(), &out))
			assert.Equal(t, domain.DeliveryFailed, out.Results[0].Status, corpus[i])
			for _, a := range s.Attempts(out.EventIDs[0]) {
				require.NotNil(t, a.Error, corpus[i])
				assert.True(t, strings.HasPrefix(*a.Error, "refused: "), "%s: %s", corpus[i], *a.Error)
				assert.NotContains(t, *a.Error, fmt.Sprint(port), "%s: neither the URL nor the refused address is echoed", corpus[i])
			}
			assert.Equal(t, events.StatusFailed, s.Event(out.EventIDs[0]).Status)
		}
	}
	t.Run("production", func(t *testing.T) { run(t, egress.Policy{Resolver: dns}, production) })
	t.Run("dev mode", func(t *testing.T) { run(t, egress.Policy{DevMode: true, Resolver: dns}, dev) })
	v4.untouched(t)
	if v6 != nil {
		v6.untouched(t)
	}
}

// loopbackDNS is a resolver answering from records, entirely in memory (the resolver dials one
// end of a net.Pipe): no query leaves the process. Every answer is a loopback address, so even a
// broken policy could only reach this machine's traps.
func loopbackDNS(records map[string][]netip.Addr) *net.Resolver {
	for _, addrs := range records {
		for _, a := range addrs {
			if !a.Unmap().IsLoopback() {
				panic("loopbackDNS answers loopback addresses only")
			}
		}
	}
	return &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		client, server := net.Pipe()
		go serveDNS(server, records)
		return client, nil
	}}
}

// serveDNS speaks DNS with TCP framing (net.Pipe is a stream) and answers A and AAAA queries.
func serveDNS(c net.Conn, records map[string][]netip.Addr) {
	defer c.Close()
	for {
		var n [2]byte
		if _, err := io.ReadFull(c, n[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(c, q); err != nil || len(q) < 12 {
			return
		}
		i, labels := 12, []string{}
		for i < len(q) && q[i] != 0 {
			l := int(q[i])
			if i+1+l > len(q) {
				return
			}
			labels = append(labels, string(q[i+1:i+1+l]))
			i += 1 + l
		}
		if i+5 > len(q) {
			return
		}
		qtype := binary.BigEndian.Uint16(q[i+1 : i+3])
		addrs, known := records[strings.ToLower(strings.Join(labels, "."))]
		var answers []byte
		count := 0
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
			answers = append(answers, 0xc0, 0x0c)
			answers = binary.BigEndian.AppendUint16(answers, qtype)
			answers = binary.BigEndian.AppendUint16(answers, 1)
			answers = binary.BigEndian.AppendUint32(answers, 60)
			answers = binary.BigEndian.AppendUint16(answers, uint16(len(rdata)))
			answers = append(answers, rdata...)
			count++
		}
		flags := uint16(0x8580)
		if !known {
			flags |= 3
		}
		resp := []byte{q[0], q[1]}
		resp = binary.BigEndian.AppendUint16(resp, flags)
		resp = binary.BigEndian.AppendUint16(resp, 1)
		resp = binary.BigEndian.AppendUint16(resp, uint16(count))
		resp = append(resp, 0, 0, 0, 0)
		resp = append(resp, q[12:i+5]...)
		resp = append(resp, answers...)
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}
