/**
 * Throwaway TLS material for the demo and the tests: one self-signed certificate for
 * "localhost" / 127.0.0.1 that also acts as the CA of a client certificate (for mutual TLS).
 * Written to a fresh temporary directory, because the TLS options take paths, as in production.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface ThrowawayCertificates {
  readonly dir: string;
  /** Server certificate; also the CA file both sides trust (it is self-signed). */
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
  /** A client certificate signed by the server certificate's key. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** Deletes the directory. */
  remove(): Promise<void>;
}

export async function createThrowawayCertificates(): Promise<ThrowawayCertificates> {
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'rsa', // RSA so every profile's ciphers (OLD has RSA key exchange) can be tried
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 60_000), // tolerate a little clock skew
    notAfterDate: new Date(Date.now() + 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
    clientCertificate: { cn: 'webapp' },
  });
  const dir = await mkdtemp(join(tmpdir(), 'wa-transport-tls-'));
  const files = {
    certFile: join(dir, 'cert.pem'),
    keyFile: join(dir, 'key.pem'),
    clientCertFile: join(dir, 'client-cert.pem'),
    clientKeyFile: join(dir, 'client-key.pem'),
  };
  await writeFile(files.certFile, pems.cert);
  await writeFile(files.keyFile, pems.private, { mode: 0o600 });
  await writeFile(files.clientCertFile, pems.clientcert ?? '');
  await writeFile(files.clientKeyFile, pems.clientprivate ?? '', { mode: 0o600 });
  return { dir, ...files, caFile: files.certFile, remove: () => rm(dir, { recursive: true, force: true }) };
}
