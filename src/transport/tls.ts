/**
 * TLS settings for serving (and calling) over HTTPS/WSS: the three server profiles of Mozilla's
 * Server Side TLS guidelines, version 5.7 (https://ssl-config.mozilla.org/guidelines/5.7.json,
 * https://wiki.mozilla.org/Security/Server_Side_TLS). 5.7 is the last version that defines all
 * three; 6.0 (2025) drops OLD. Sealing still applies inside TLS: TLS protects the hop, the
 * envelope protects the message end to end, also behind a TLS-terminating proxy.
 *
 * The profile is chosen in code or by WA_WEB_SECURITY_LEVEL (modern | intermediate | old,
 * any case); unset means MODERN; anything else is a startup error (ERR_WA_CONFIG).
 */
import { type KeyObject, X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { ErrorCode, WaTransportError } from '../errors.js';
import { type SecurityLevel, type TlsProfile, TLS_PROFILES, securityLevelFromEnv } from './tls-profiles.js';

export { SecurityLevel } from './tls-profiles.js';

export interface ServerTlsOptions {
  /** Profile; default from WA_WEB_SECURITY_LEVEL, else MODERN. */
  level?: SecurityLevel;
  /** PEM certificate (chain) file. */
  certFile: string;
  /** PEM private key file. */
  keyFile: string;
  /**
   * PEM CA file. When given, clients must present a certificate signed by it (mutual TLS);
   * connections without one are refused during the handshake.
   */
  caFile?: string;
}

/** `https.createServer(serverTlsOptions({...}), ...)`: certificates from paths, one Mozilla profile. */
export function serverTlsOptions(options: ServerTlsOptions): SecureContextOptions & {
  requestCert: boolean;
  rejectUnauthorized: boolean;
} {
  const profile = TLS_PROFILES[options.level ?? securityLevelFromEnv()];
  if (profile === undefined) throw new WaTransportError(ErrorCode.CONFIG, 'level must be modern, intermediate or old');
  const verifyClients = options.caFile !== undefined;
  const cert = readPem(options.certFile, 'certFile');
  const key = readPem(options.keyFile, 'keyFile');
  checkKeyPair(cert, key);
  return {
    ...profileOptions(profile),
    // DHE ciphers (INTERMEDIATE, OLD) need parameters; 'auto' picks well-known groups sized to the key.
    dhparam: 'auto',
    cert,
    key,
    ...(verifyClients ? { ca: readPem(options.caFile!, 'caFile') } : {}),
    requestCert: verifyClients,
    rejectUnauthorized: verifyClients,
  };
}

export interface ClientTlsOptions {
  /** PEM CA file that signed the server's certificate (e.g. a private CA or a self-signed cert). */
  caFile?: string;
  /** Client certificate and key, for a server that verifies clients. */
  certFile?: string;
  keyFile?: string;
  /** Limit what the client offers to one profile. Default: Node's defaults (TLS 1.2+). */
  level?: SecurityLevel;
}

/** Options for `tls.connect`, undici's `Pool({ connect })` or `ws`: always verifies the server. */
export function clientTlsOptions(options: ClientTlsOptions = {}): SecureContextOptions & { rejectUnauthorized: true } {
  if ((options.certFile === undefined) !== (options.keyFile === undefined)) {
    throw new WaTransportError(ErrorCode.CONFIG, 'certFile and keyFile go together');
  }
  return {
    ...(options.level === undefined ? {} : profileOptions(TLS_PROFILES[options.level])),
    ...(options.caFile === undefined ? {} : { ca: readPem(options.caFile, 'caFile') }),
    ...(options.certFile === undefined ? {} : { cert: readPem(options.certFile, 'certFile') }),
    ...(options.keyFile === undefined ? {} : { key: readPem(options.keyFile, 'keyFile') }),
    rejectUnauthorized: true,
  };
}

function profileOptions(profile: TlsProfile): SecureContextOptions {
  return {
    minVersion: profile.minVersion,
    maxVersion: profile.maxVersion,
    ciphers: profile.ciphers,
    ecdhCurve: profile.ecdhCurve,
    honorCipherOrder: profile.honorCipherOrder,
  };
}

/**
 * A certificate and a key that do not belong together pass `https.createServer` and fail only
 * at the first handshake, as a client-side "handshake failure" far from the cause. Checked here,
 * where the file names are known. Messages name the options, never the files' content.
 */
function checkKeyPair(cert: Buffer, key: Buffer): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new WaTransportError(ErrorCode.CONFIG, 'certFile does not hold a PEM certificate');
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new WaTransportError(ErrorCode.CONFIG, 'keyFile does not hold an unencrypted PEM private key');
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new WaTransportError(ErrorCode.CONFIG, "keyFile is not the private key of certFile's certificate");
  }
}

function readPem(path: string, name: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    // The path is configuration, not a secret; the file's content never goes into the message.
    throw new WaTransportError(ErrorCode.CONFIG, `${name} cannot be read: ${path}`, { cause: error });
  }
}
