import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frameContext, frameContextBytes, frameContextPrefix } from '../../src/transport/ws-protocol.js';

describe('frame contexts as bytes', () => {
  it('are the UTF-8 of frameContext for every connection id, direction and sequence number', () => {
    const utf8 = new TextEncoder();
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom('c2s' as const, 's2c' as const),
        fc.oneof(fc.nat(), fc.constantFrom(0, 9, 10, 99, 100, 2 ** 32, Number.MAX_SAFE_INTEGER)),
        (id, direction, seq) => {
          const bytes = frameContextBytes(frameContextPrefix(id, direction), seq);
          expect(Buffer.from(bytes).equals(Buffer.from(utf8.encode(frameContext(id, direction, seq))))).toBe(true);
        },
      ),
    );
  });
});
