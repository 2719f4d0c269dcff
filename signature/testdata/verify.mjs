// Dualhook event webhook verification recipe for Node.js 20+, using only
// node:crypto. The block between BEGIN RECIPE and END RECIPE is copied
// verbatim into docs/webhook-signatures.md (a Go test keeps them equal).
//
// As a script it verifies test cases and prints one JSON result per case:
//   node verify.mjs [vectors.json | cases.json]
// vectors.json: {"vectors":[{secret, previousSecret?, id, timestamp, body,
//   xDualhookSignature, xDualhookSignaturePrevious?, webhookSignature}]}
// cases.json:   {"cases":[{name, secret, headers, body, now, toleranceSeconds?}]}
// Output: {"results":[{name, standard: null | "error", legacy: null | "error"}]}

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// BEGIN RECIPE
import { createHmac, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

// Standard Webhooks headers: webhook-id, webhook-timestamp, webhook-signature.
// headers: lowercase names, as in Node's req.headers.
// rawBody: the exact request body as a Buffer (read it before any JSON parsing).
export function verifyWebhook(secret, headers, rawBody, options = {}) {
  const toleranceSeconds = options.toleranceSeconds ?? 300;
  const nowSeconds = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('invalid secret');
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) throw new Error('missing headers');
  if (!/^[0-9]+$/.test(timestamp)) throw new Error('invalid timestamp');
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) {
    throw new Error('timestamp outside tolerance');
  }
  // The key is the base64-decoded part after "whsec_".
  const key = Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64');
  const expected = createHmac('sha256', key)
    .update(`${id}.${timestamp}.`)
    .update(rawBody)
    .digest();
  // Space-separated list (two entries during a secret rotation).
  for (const entry of signatures.split(' ')) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== 'v1') continue;
    const received = Buffer.from(entry.slice(comma + 1), 'base64');
    if (received.length === expected.length && timingSafeEqual(received, expected)) return;
  }
  throw new Error('no matching signature');
}

// X-Dualhook-Signature: sha256=<hex>. The key is the whole secret string
// ("whsec_..." as UTF-8). X-Dualhook-Signature-Previous carries the
// old-secret signature during a rotation, so either header may match.
export function verifyLegacy(secret, headers, rawBody) {
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(rawBody).digest();
  for (const name of ['x-dualhook-signature', 'x-dualhook-signature-previous']) {
    const value = headers[name];
    if (typeof value !== 'string' || !/^sha256=[0-9a-fA-F]{64}$/.test(value)) continue;
    const received = Buffer.from(value.slice('sha256='.length), 'hex');
    if (timingSafeEqual(received, expected)) return;
  }
  throw new Error('no matching signature');
}
// END RECIPE

function casesFromVectors(vectors) {
  const cases = [];
  for (const v of vectors) {
    const headers = {
      'webhook-id': v.id,
      'webhook-timestamp': String(v.timestamp),
      'webhook-signature': v.webhookSignature,
      'x-dualhook-signature': v.xDualhookSignature,
    };
    if (v.xDualhookSignaturePrevious) {
      headers['x-dualhook-signature-previous'] = v.xDualhookSignaturePrevious;
    }
    cases.push({ name: v.name, secret: v.secret, headers, body: v.body, now: v.timestamp });
    if (v.previousSecret) {
      cases.push({ name: `${v.name} (previous secret)`, secret: v.previousSecret, headers, body: v.body, now: v.timestamp });
    }
  }
  return cases;
}

function attempt(fn) {
  try {
    fn();
    return null;
  } catch (err) {
    return String(err.message);
  }
}

function main() {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = process.argv[2] ?? join(here, 'vectors.json');
  const input = JSON.parse(readFileSync(file, 'utf8'));
  const cases = input.vectors ? casesFromVectors(input.vectors) : input.cases;
  const results = cases.map((c) => {
    const headers = Object.fromEntries(
      Object.entries(c.headers).map(([k, v]) => [k.toLowerCase(), v]),
    );
    const body = Buffer.from(c.body, 'utf8');
    const options = { nowSeconds: c.now, toleranceSeconds: c.toleranceSeconds ?? 300 };
    return {
      name: c.name,
      standard: attempt(() => verifyWebhook(c.secret, headers, body, options)),
      legacy: attempt(() => verifyLegacy(c.secret, headers, body)),
    };
  });
  process.stdout.write(JSON.stringify({ results }, null, 2) + '\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
