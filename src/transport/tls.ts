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
import type { SecureContextOptions, SecureVersion } from 'node:tls';
import { ErrorCode, WaTransportError } from '../errors.js';

export const SecurityLevel = {
  /** TLS 1.3 only. Default. */
  MODERN: 'modern',
  /** TLS 1.2 and 1.3, forward-secret AEAD ciphers only. For clients without TLS 1.3. */
  INTERMEDIATE: 'intermediate',
  /** TLS 1.0 to 1.3 with CBC and 3DES ciphers: only for very old clients. */
  OLD: 'old',
} as const;
export type SecurityLevel = (typeof SecurityLevel)[keyof typeof SecurityLevel];

/** The environment variable that selects the profile. */
export const SECURITY_LEVEL_ENV = 'WA_WEB_SECURITY_LEVEL';

export interface TlsProfile {
  readonly minVersion: SecureVersion;
  readonly maxVersion: SecureVersion;
  /** OpenSSL cipher string; TLS 1.3 suites (TLS_*) and TLS ≤ 1.2 ciphers together, as Node takes them. */
  readonly ciphers: string;
  readonly ecdhCurve: string;
  /** Mozilla's "server_preferred_order". */
  readonly honorCipherOrder: boolean;
}

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
const CURVES = 'X25519:prime256v1:secp384r1';

const INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
];

const OLD_CIPHERS = [
  ...INTERMEDIATE_CIPHERS,
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  'ECDHE-ECDSA-AES128-SHA',
  'ECDHE-RSA-AES128-SHA',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES256-SHA',
  'ECDHE-RSA-AES256-SHA',
  'DHE-RSA-AES128-SHA256',
  'DHE-RSA-AES256-SHA256',
  'AES128-GCM-SHA256',
  'AES256-GCM-SHA384',
  'AES128-SHA256',
  'AES256-SHA256',
  'AES128-SHA',
  'AES256-SHA',
  'DES-CBC3-SHA',
];

export const TLS_PROFILES: Readonly<Record<SecurityLevel, TlsProfile>> = {
  modern: {
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: TLS13_SUITES.join(':'),
    ecdhCurve: CURVES,
    honorCipherOrder: false,
  },
  intermediate: {
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: [...TLS13_SUITES, ...INTERMEDIATE_CIPHERS].join(':'),
    ecdhCurve: CURVES,
    honorCipherOrder: false,
  },
  old: {
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.3',
    // OpenSSL 3 refuses TLS 1.0/1.1 and SHA-1 at its default security level 1; Mozilla's
    // generator adds @SECLEVEL=0 for OLD on OpenSSL ≥ 3 for the same reason.
    ciphers: [...TLS13_SUITES, ...OLD_CIPHERS].join(':') + ':@SECLEVEL=0',
    ecdhCurve: CURVES,
    honorCipherOrder: true,
  },
};

/**
 * The level named by WA_WEB_SECURITY_LEVEL (default MODERN when unset or empty). An unknown
 * value throws ERR_WA_CONFIG naming the variable: a typo must not silently weaken or break TLS.
 */
export function securityLevelFromEnv(env: NodeJS.ProcessEnv = process.env): SecurityLevel {
  const raw = env[SECURITY_LEVEL_ENV];
  if (raw === undefined || raw.trim() === '') return SecurityLevel.MODERN;
  return parseSecurityLevel(raw, SECURITY_LEVEL_ENV);
}

/** `modern` / `intermediate` / `old`, any case; anything else is ERR_WA_CONFIG. */
export function parseSecurityLevel(value: string, name = 'level'): SecurityLevel {
  const level = value.trim().toLowerCase();
  if (level === 'modern' || level === 'intermediate' || level === 'old') return level;
  throw new WaTransportError(
    ErrorCode.CONFIG,
    `${name} must be one of modern, intermediate, old (got ${JSON.stringify(value.slice(0, 32))})`,
  );
}

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

/** Options for `tls.connect`, undici's `Agent({ connect })` or `ws`: always verifies the server. */
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
