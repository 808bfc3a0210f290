/** The pinned v1 vectors (envelope-v1.json), typed, for every test that checks against them. */
import { readFileSync } from 'node:fs';
import type { Direction, PayloadFormat } from '../../src/envelope/format.js';

export interface Vectors {
  keys: Array<{ secret: string; rootHex: string; keyIdHex: string; webappToCoreappKeyHex: string; coreappToWebappKeyHex: string }>;
  envelopes: Array<{
    name: string;
    secret: string;
    direction: Direction;
    format: PayloadFormat;
    plaintextHex: string;
    /** For msgpack cases: the value the plaintext encodes. */
    value?: unknown;
    context: string;
    timestamp: number;
    nonceHex: string;
    envelopeHex: string;
  }>;
  invalid: Array<{ name: string; envelopeHex: string; code: string }>;
}

export const vectors = JSON.parse(readFileSync(new URL('./envelope-v1.json', import.meta.url), 'utf8')) as Vectors;
