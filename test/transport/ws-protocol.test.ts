import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameContextSequence, frameContext } from '../../src/transport/ws-protocol.js';

describe('frame contexts as bytes', () => {
  it('are the UTF-8 of frameContext for every connection id, direction and sequence number, frame after frame', () => {
    const utf8 = new TextEncoder();
    fc.assert(
      fc.property(
        fc.string(),
        fc.constantFrom('c2s' as const, 's2c' as const),
        fc.nat({ max: 1200 }),
        (id, direction, frames) => {
          const sequence = new FrameContextSequence(id, direction);
          for (let seq = 0; seq <= frames; seq++) {
            const expected = utf8.encode(frameContext(id, direction, seq));
            expect(Buffer.from(sequence.bytes).equals(Buffer.from(expected))).toBe(true);
            sequence.advance();
          }
        },
      ),
    );
  });
});
