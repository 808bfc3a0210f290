/**
 * The examples' admin pages go out with the headers the WhatsApp Business API's web admin sends
 * (docs/admin-headers.md), set by helmet and @fastify/helmet; the sealed routes beside them go
 * without. Checked on the wire, over 127.0.0.1.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createExpressApp } from '../examples/express-server.js';
import { createFastifyApp } from '../examples/fastify-server.js';
import { startAdmin } from '../examples/webapp.js';
// Through the package's name, as the examples import it: an endpoint from one copy of the
// library and an adapter from another (src/ and dist/) would not know each other's errors.
import { createEndpoint, type Endpoint } from 'wa-transport';
import { HttpClient } from 'wa-transport/http';
import { ENVELOPE_CONTENT_TYPE, requestContext } from 'wa-transport/protocol';
import { SECRET } from './helpers.js';

/** Every header helmet could set: none of them belongs on a sealed answer. */
const BROWSER_HEADERS = [
  'content-security-policy',
  'x-frame-options',
  'x-content-type-options',
  'strict-transport-security',
  'x-xss-protection',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'referrer-policy',
];

async function get(url: string) {
  const res = await request(url);
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

function directives(csp: unknown): Record<string, string[]> {
  expect(typeof csp).toBe('string');
  return Object.fromEntries(
    (csp as string).split(';').map((directive) => {
      const [name, ...values] = directive.trim().split(/\s+/);
      return [name!, values];
    }),
  );
}

function expectAdminHeaders(headers: Record<string, unknown>): void {
  expect(headers).toMatchObject({
    'content-type': expect.stringMatching(/^text\/html/),
    'x-frame-options': 'DENY',
    'x-content-type-options': 'nosniff',
    'strict-transport-security': 'max-age=31536000; includeSubDomains',
    'x-xss-protection': '0',
  });
  const csp = directives(headers['content-security-policy']);
  // Scripts from the page's own origin only: no inline script, no eval, no other host.
  expect(csp['default-src']).toEqual(["'self'"]);
  expect(csp['script-src']).toEqual(["'self'"]);
  expect(csp['script-src-attr']).toEqual(["'none'"]);
  expect(csp['object-src']).toEqual(["'none'"]);
  // No frame anywhere, this origin included (the CSP form of X-Frame-Options: DENY).
  expect(csp['frame-ancestors']).toEqual(["'none'"]);
}

describe('the WebApp admin page', () => {
  it('carries the web admin headers', async () => {
    const admin = await startAdmin({ facts: () => ({ CoreApp: 'http://127.0.0.1:8443', '<b>': '"x"' }) });
    try {
      const page = await get(admin.url);
      expect(page.status).toBe(200);
      expectAdminHeaders(page.headers);
      expect(page.body).toContain('<th>&lt;b&gt;</th><td>&quot;x&quot;</td>'); // facts are text, not markup
    } finally {
      await admin.close();
    }
  });
});

describe.each(['express', 'fastify'] as const)('the %s CoreApp example', (framework) => {
  let core: Endpoint;
  let web: Endpoint;
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    web = await createEndpoint({ role: 'webapp', secret: SECRET });
    if (framework === 'express') {
      const server: Server = await new Promise((resolve) => {
        const listening = createExpressApp(core).listen(0, '127.0.0.1', () => resolve(listening));
      });
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      close = () => new Promise((resolve) => server.close(() => resolve()));
    } else {
      const app = await createFastifyApp(core);
      url = await app.listen({ port: 0, host: '127.0.0.1' });
      close = () => app.close();
    }
  });
  afterAll(() => close());

  it('serves its admin page with the web admin headers', async () => {
    const page = await get(`${url}/admin`);
    expect(page.status).toBe(200);
    expect(page.body).toContain(core.keyId);
    expectAdminHeaders(page.headers);
  });

  it('answers its sealed routes as before, without the browser headers', async () => {
    const client = new HttpClient({ endpoint: web, baseUrl: url });
    try {
      await expect(client.post('/v1/transfers', { to: 'alice', amount: 42 })).resolves.toMatchObject({
        status: 201,
        payload: { to: 'alice', amount: 42, accepted: true },
      });
      await expect(client.get('/v1/balance')).resolves.toMatchObject({ status: 200, payload: { balance: 958 } });
    } finally {
      await client.close();
    }
    const res = await request(`${url}/v1/transfers`, {
      method: 'POST',
      headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
      body: web.seal({ to: 'bob', amount: 1 }, { context: requestContext('POST', '/v1/transfers') }),
    });
    await res.body.dump();
    expect(res.statusCode).toBe(201);
    expect(res.headers).toMatchObject({ 'content-type': ENVELOPE_CONTENT_TYPE, 'cache-control': 'no-store' });
    for (const name of BROWSER_HEADERS) expect(res.headers[name], name).toBeUndefined();
    // A refusal is as it was too.
    const refused = await request(`${url}/v1/transfers`, {
      method: 'POST',
      headers: { 'content-type': ENVELOPE_CONTENT_TYPE },
      body: 'garbage',
    });
    expect(await refused.body.json()).toEqual({ error: 'ERR_WA_MALFORMED' });
    for (const name of BROWSER_HEADERS) expect(refused.headers[name], name).toBeUndefined();
  });
});
