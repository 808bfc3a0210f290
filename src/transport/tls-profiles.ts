/**
 * The three server profiles of Mozilla's Server Side TLS guidelines, version 5.7, as data, and
 * how WA_WEB_SECURITY_LEVEL names one (tls.ts says why these three). Kept apart from tls.ts,
 * the `wa-transport/tls` entry that turns a profile into options for node:tls, so that entry
 * exports only what a user calls while ops/config.ts and the tests read the tables here.
 */
import type { SecureVersion } from 'node:tls';
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
