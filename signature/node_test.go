package signature

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nodeResult is one line of verify.mjs output: nil means "verified".
type nodeResult struct {
	Name     string  `json:"name"`
	Standard *string `json:"standard"`
	Legacy   *string `json:"legacy"`
}

func runNode(t *testing.T, input string) map[string]nodeResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "testdata/verify.mjs", input)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "node failed: %s", stderr.String())
	var out struct {
		Results []nodeResult `json:"results"`
	}
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &out), stdout.String())
	byName := map[string]nodeResult{}
	for _, r := range out.Results {
		byName[r.Name] = r
	}
	return byName
}

func TestNodeRecipeVerifiesVectors(t *testing.T) {
	vectors := loadVectors(t)
	results := runNode(t, "testdata/vectors.json")
	for _, v := range vectors {
		names := []string{v.Name}
		if v.PreviousSecret != "" {
			names = append(names, v.Name+" (previous secret)")
		}
		for _, name := range names {
			r, ok := results[name]
			require.True(t, ok, "no node result for %q", name)
			assert.Nil(t, r.Standard, "%s: standard", name)
			assert.Nil(t, r.Legacy, "%s: legacy", name)
		}
	}
}

type nodeCase struct {
	Name             string            `json:"name"`
	Secret           string            `json:"secret"`
	Headers          map[string]string `json:"headers"`
	Body             string            `json:"body"`
	Now              int64             `json:"now"`
	ToleranceSeconds int64             `json:"toleranceSeconds"`
	// Go's verdicts, compared with Node's; not read by the script.
	wantStandard, wantLegacy bool
}

// Freshly signed requests, positive and negative: the Node recipe and the
// Go verifier must agree on every one, and with what the case expects.
func TestNodeRecipeAgreesWithGoOnFreshRequests(t *testing.T) {
	cur, err := NewSecret()
	require.NoError(t, err)
	prev, err := NewSecret()
	require.NoError(t, err)
	stranger, err := NewSecret()
	require.NoError(t, err)

	ts := time.Now().Truncate(time.Second)
	body := `{"event":"connection.mode_resolved","id":"evt_fresh","createdAt":"` + ts.UTC().Format(time.RFC3339) +
		`","data":{"connectionId":"conn_1","tenantId":"ténant ✓","connectionMode":"coexistence","previousMode":null}}`
	flat := func(h map[string][]string) map[string]string {
		m := map[string]string{}
		for k, v := range h {
			m[k] = v[0]
		}
		return m
	}
	plain := flat(Sign(Secrets{Current: cur}, "evt_fresh", "connection.mode_resolved", ts, []byte(body)))
	rotating := flat(Sign(Secrets{Current: cur, Previous: prev}, "evt_fresh", "connection.mode_resolved", ts, []byte(body)))
	without := func(h map[string]string, drop ...string) map[string]string {
		m := map[string]string{}
		for k, v := range h {
			m[k] = v
		}
		for _, d := range drop {
			for k := range m {
				if strings.EqualFold(k, d) {
					delete(m, k)
				}
			}
		}
		return m
	}
	tsec := ts.Unix()
	cases := []nodeCase{
		{Name: "fresh", Secret: cur, Headers: plain, Body: body, Now: tsec, wantStandard: true, wantLegacy: true},
		{Name: "rotation new secret", Secret: cur, Headers: rotating, Body: body, Now: tsec, wantStandard: true, wantLegacy: true},
		{Name: "rotation old secret", Secret: prev, Headers: rotating, Body: body, Now: tsec, wantStandard: true, wantLegacy: true},
		{Name: "old secret after rotation ended", Secret: prev, Headers: plain, Body: body, Now: tsec},
		{Name: "wrong secret", Secret: stranger, Headers: rotating, Body: body, Now: tsec},
		{Name: "tampered body", Secret: cur, Headers: plain, Body: body + " ", Now: tsec},
		{Name: "stale", Secret: cur, Headers: plain, Body: body, Now: tsec + 301, wantLegacy: true},
		{Name: "future", Secret: cur, Headers: plain, Body: body, Now: tsec - 301, wantLegacy: true},
		{Name: "edge of tolerance", Secret: cur, Headers: plain, Body: body, Now: tsec + 300, wantStandard: true, wantLegacy: true},
		{Name: "wider tolerance", Secret: cur, Headers: plain, Body: body, Now: tsec + 3600, ToleranceSeconds: 7200, wantStandard: true, wantLegacy: true},
		{Name: "no standard headers", Secret: cur, Headers: without(plain, "webhook-signature"), Body: body, Now: tsec, wantLegacy: true},
		{Name: "no legacy header", Secret: cur, Headers: without(plain, HeaderSignature), Body: body, Now: tsec, wantStandard: true},
		{Name: "swapped id", Secret: cur, Headers: func() map[string]string {
			m := without(plain, "webhook-id")
			m["webhook-id"] = "evt_other"
			return m
		}(), Body: body, Now: tsec, wantLegacy: true},
		{Name: "legacy key confusion", Secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte(cur)), Headers: plain, Body: body, Now: tsec},
	}
	for i := range cases {
		if cases[i].ToleranceSeconds == 0 {
			cases[i].ToleranceSeconds = 300
		}
	}
	raw, err := json.Marshal(map[string]any{"cases": cases})
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "cases.json")
	require.NoError(t, os.WriteFile(file, raw, 0o600))

	results := runNode(t, file)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r, ok := results[c.Name]
			require.True(t, ok)
			h := map[string][]string{}
			for k, v := range c.Headers {
				h[k] = []string{v}
			}
			goStd := Verify(c.Secret, h, []byte(c.Body), time.Duration(c.ToleranceSeconds)*time.Second, time.Unix(c.Now, 0)) == nil
			goLegacy := VerifyLegacy(c.Secret, h, []byte(c.Body)) == nil

			assert.Equal(t, c.wantStandard, goStd, "go standard")
			assert.Equal(t, c.wantLegacy, goLegacy, "go legacy")
			assert.Equal(t, c.wantStandard, r.Standard == nil, "node standard: %v", r.Standard)
			assert.Equal(t, c.wantLegacy, r.Legacy == nil, "node legacy: %v", r.Legacy)
		})
	}
}

// The partner doc must show exactly the recipe that this suite runs, and
// the vectors this suite checks.
func TestDocMatchesRecipeAndVectors(t *testing.T) {
	doc, err := os.ReadFile("../docs/webhook-signatures.md")
	if os.IsNotExist(err) {
		t.Skip("docs/webhook-signatures.md not present (package used outside the repository)")
	}
	require.NoError(t, err)
	script, err := os.ReadFile("testdata/verify.mjs")
	require.NoError(t, err)

	_, after, ok := strings.Cut(string(script), "// BEGIN RECIPE\n")
	require.True(t, ok)
	recipe, _, ok := strings.Cut(after, "// END RECIPE")
	require.True(t, ok)
	assert.Contains(t, string(doc), recipe, "the Node.js snippet in the doc must equal verify.mjs's recipe")

	for _, v := range loadVectors(t) {
		for _, want := range []string{v.Secret, v.PreviousSecret, v.ID, v.XDualhookSignature, v.XDualhookSignaturePrevious, v.WebhookSignature} {
			if want != "" {
				assert.Contains(t, string(doc), want, "vector %q", v.Name)
			}
		}
	}
}
