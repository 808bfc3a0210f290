/**
 * TLS profiles over real sockets: a client offering only what a profile forbids is refused
 * in the handshake; one offering what it allows gets through. Plus WA_WEB_SECURITY_LEVEL
 * parsing, mutual TLS, and a sealed HTTP round trip over HTTPS.
 */
import type { RequestListener } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createThrowawayCertificates, type ThrowawayCertificates } from '../../examples/demo/certs.js';
import { createEndpoint, ErrorCode } from '../../src/index.js';
import { HttpClient } from '../../src/transport/http-client.js';
import { sealedHandler } from '../../src/transport/http-server.js';
import { WsClient } from '../../src/transport/ws-client.js';
import {
  clientTlsOptions,
  serverTlsOptions,
  type SecurityLevel,
  type ServerTlsOptions,
} from '../../src/transport/tls.js';
import { SECURITY_LEVEL_ENV, TLS_PROFILES, securityLevelFromEnv } from '../../src/transport/tls-profiles.js';
import { SECRET } from '../helpers.js';

let certs: ThrowawayCertificates;
const servers: Server[] = [];

beforeAll(async () => {
  certs = await createThrowawayCertificates();
});
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await certs.remove();
});

async function serve(
  options: Partial<ServerTlsOptions> & { level: SecurityLevel },
  handler: RequestListener = (_req, res) => res.end('ok'),
): Promise<number> {
  const server = createServer(
    serverTlsOptions({ certFile: certs.certFile, keyFile: certs.keyFile, ...options }),
    handler,
  );
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Handshakes and reports the negotiated protocol, or 'refused'. */
function handshake(port: number, options: ConnectionOptions = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ...clientTlsOptions({ caFile: certs.caFile }), ...options });
    socket.once('secureConnect', () => {
      const protocol = socket.getProtocol() ?? 'unknown';
      // Under TLS 1.3 a refused client certificate shows up only after the handshake.
      socket.once('error', () => resolve('refused'));
      setImmediate(() => {
        socket.write('GET / HTTP/1.1\r\nhost: localhost\r\n\r\n');
        socket.once('data', () => {
          socket.destroy();
          resolve(protocol);
        });
        socket.once('close', () => resolve('refused'));
      });
    });
    socket.once('error', () => resolve('refused'));
  });
}

describe('profiles', () => {
  it('MODERN (the default) takes TLS 1.3 and refuses a TLS 1.2 client', async () => {
    const port = await serve({ level: 'modern' });
    expect(await handshake(port)).toBe('TLSv1.3');
    expect(await handshake(port, { maxVersion: 'TLSv1.2' })).toBe('refused');
  });

  it('INTERMEDIATE takes TLS 1.2 with an AEAD cipher, refuses CBC ciphers and TLS 1.1', async () => {
    const port = await serve({ level: 'intermediate' });
    expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })).toBe('TLSv1.2');
    expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA' })).toBe('refused');
    expect(await handshake(port, { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' })).toBe(
      'refused',
    );
  });

  it('OLD takes what INTERMEDIATE refuses: TLS 1.2 with a CBC cipher', async () => {
    const port = await serve({ level: 'old' });
    expect(await handshake(port, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-SHA' })).toBe('TLSv1.2');
    expect(await handshake(port)).toBe('TLSv1.3');
  });

  it('pins the profile table to Mozilla 5.7', () => {
    expect(TLS_PROFILES.modern).toMatchObject({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(TLS_PROFILES.intermediate.minVersion).toBe('TLSv1.2');
    expect(TLS_PROFILES.intermediate.ciphers).not.toMatch(/-SHA(:|$)|CBC|DES/);
    expect(TLS_PROFILES.old.minVersion).toBe('TLSv1');
    expect(TLS_PROFILES.old.ciphers).toContain('DES-CBC3-SHA');
  });
});

describe(SECURITY_LEVEL_ENV, () => {
  it('defaults to modern and accepts each level in any case', () => {
    expect(securityLevelFromEnv({})).toBe('modern');
    expect(securityLevelFromEnv({ [SECURITY_LEVEL_ENV]: '' })).toBe('modern');
    expect(securityLevelFromEnv({ [SECURITY_LEVEL_ENV]: 'INTERMEDIATE' })).toBe('intermediate');
    expect(securityLevelFromEnv({ [SECURITY_LEVEL_ENV]: 'Old' })).toBe('old');
  });

  it('refuses an unknown value with ERR_WA_CONFIG naming the variable', () => {
    expect(() => securityLevelFromEnv({ [SECURITY_LEVEL_ENV]: 'paranoid' })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG, message: expect.stringContaining(SECURITY_LEVEL_ENV) }),
    );
  });

  it('refuses unreadable certificate paths with ERR_WA_CONFIG', () => {
    expect(() => serverTlsOptions({ level: 'modern', certFile: '/nonexistent.pem', keyFile: certs.keyFile })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG }),
    );
  });
});

describe('certificate files', () => {
  it("refuses a key that is not the certificate's with ERR_WA_CONFIG, naming the options", () => {
    expect(() => serverTlsOptions({ level: 'modern', certFile: certs.certFile, keyFile: certs.clientKeyFile })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG, message: expect.stringMatching(/keyFile .*certFile/) }),
    );
  });

  it('refuses a certificate file that holds no certificate', () => {
    expect(() => serverTlsOptions({ level: 'modern', certFile: certs.keyFile, keyFile: certs.keyFile })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG, message: expect.stringContaining('certFile') }),
    );
  });
});

describe('tls on a URL without TLS', () => {
  it('HttpClient and WsClient refuse a tls option on http: and ws: URLs instead of ignoring it', async () => {
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const tls = { caFile: certs.caFile };
    expect(() => new HttpClient({ endpoint: web, baseUrl: 'http://127.0.0.1:1', tls })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG, message: expect.stringContaining('https:') }),
    );
    expect(() => new WsClient({ endpoint: web, url: 'ws://127.0.0.1:1/ws', tls, reconnect: false })).toThrow(
      expect.objectContaining({ code: ErrorCode.CONFIG, message: expect.stringContaining('wss:') }),
    );
  });
});

describe('mutual TLS and sealing inside TLS', () => {
  it('with caFile, refuses a client without a certificate and serves one with', async () => {
    const core = await createEndpoint({ role: 'coreapp', secret: SECRET });
    const port = await serve(
      { level: 'modern', caFile: certs.caFile },
      sealedHandler({ endpoint: core }, (req) => ({ echo: req.payload })),
    );
    expect(await handshake(port)).toBe('refused');

    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const client = new HttpClient({
      endpoint: web,
      baseUrl: `https://127.0.0.1:${port}`,
      tls: { caFile: certs.caFile, certFile: certs.clientCertFile, keyFile: certs.clientKeyFile },
    });
    const response = await client.post('/v1/echo', { hello: 'tls' });
    expect(response).toMatchObject({ status: 200, payload: { echo: { hello: 'tls' } } });
    await client.close();

    const anonymous = new HttpClient({
      endpoint: web,
      baseUrl: `https://127.0.0.1:${port}`,
      tls: { caFile: certs.caFile },
    });
    await expect(anonymous.post('/v1/echo', 1)).rejects.toThrow();
    await anonymous.close();
  });

  it('the client refuses a server whose certificate it cannot verify', async () => {
    const port = await serve({ level: 'modern' });
    const web = await createEndpoint({ role: 'webapp', secret: SECRET });
    const client = new HttpClient({ endpoint: web, baseUrl: `https://127.0.0.1:${port}` });
    await expect(client.post('/v1/echo', 1)).rejects.toThrow(/self[- ]signed|certificate/i);
    await client.close();
  });
});
