package signature

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The README's short Node.js recipe is what partners copy first: it must verify every vector
// (both secrets of the rotation one) and reject a tampered body.
func TestREADMENodeRecipeVerifiesTheVectors(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not on PATH")
	}
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	section := string(readme)
	start := strings.Index(section, "## Verifying event webhooks")
	require.GreaterOrEqual(t, start, 0, "README has no verification section")
	section = section[start:]
	open := strings.Index(section, "```js\n")
	require.GreaterOrEqual(t, open, 0, "README has no js block in the verification section")
	recipe := section[open+len("```js\n"):]
	recipe = recipe[:strings.Index(recipe, "```")]

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "recipe.mjs"), []byte(recipe), 0o600))
	abs, err := filepath.Abs("testdata/vectors.json")
	require.NoError(t, err)
	harness := `import { readFileSync } from 'node:fs';
import { verifyWebhook } from './recipe.mjs';
const { vectors } = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let checked = 0;
for (const v of vectors) {
  const headers = { 'webhook-id': v.id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': v.webhookSignature };
  for (const secret of [v.secret, v.previousSecret].filter(Boolean)) {
    verifyWebhook(secret, headers, Buffer.from(v.body, 'utf8'), 300, v.timestamp);
    checked++;
    let rejected = false;
    try { verifyWebhook(secret, headers, Buffer.from(v.body + ' ', 'utf8'), 300, v.timestamp); } catch { rejected = true; }
    if (!rejected) throw new Error(v.name + ': a tampered body verified');
  }
}
console.log('checked ' + checked);
`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "harness.mjs"), []byte(harness), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "harness.mjs"), abs)
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Run(), out.String())
	require.Contains(t, out.String(), "checked 4")
}
