/**
 * docs/PROTOCOL.md §6 is the one table of error codes, their HTTP statuses and their WebSocket
 * close codes: every other place links to it. This test holds the code to it, row by row.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, WaTransportError, isAfterAuthentication } from '../src/errors.js';
import { REJECTION_STATUS } from '../src/transport/http-binding.js';
import { WsCloseCode, closeCodeFor } from '../src/transport/ws-protocol.js';

const spec = readFileSync(new URL('../docs/PROTOCOL.md', import.meta.url), 'utf8');
const section = spec.slice(spec.indexOf('## 6. Errors'), spec.indexOf('## 7. Test vectors'));
const rows = section
  .split('\n')
  .filter((line) => line.startsWith('| `ERR_WA_'))
  .map((line) => {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    return {
      code: cells[0]!.replaceAll('`', '') as ErrorCode,
      authenticated: cells[2],
      http: Number(cells[3]),
      ws: cells[4] === '—' ? undefined : Number(cells[4]),
    };
  });

describe('PROTOCOL.md §6, the table of codes', () => {
  it('lists every ErrorCode exactly once, and nothing else', () => {
    expect(rows.map((r) => r.code).sort()).toEqual(Object.values(ErrorCode).sort());
  });

  it.each(rows)('$code: authenticated, HTTP status and close code as the code has them', (row) => {
    expect(row.authenticated === 'yes', 'authenticated?').toBe(isAfterAuthentication(row.code));
    expect(row.http, 'HTTP status').toBe(REJECTION_STATUS[row.code]);
    if (row.ws !== undefined) expect(row.ws, 'close code').toBe(closeCodeFor(new WaTransportError(row.code)));
  });
});

describe('PROTOCOL.md §8.2, the table of close codes', () => {
  const closeSection = spec.slice(spec.indexOf('### 8.2 WebSocket'), spec.indexOf('## 9. Compatibility'));
  const closeRows = closeSection
    .split('\n')
    .filter((line) => /^\| \d{4} \|/.test(line))
    .map((line) => {
      const cells = line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim());
      return [cells[1]!.replaceAll('`', ''), Number(cells[0])] as const;
    });

  it('lists every WsCloseCode with its number, and nothing else', () => {
    expect(Object.fromEntries(closeRows)).toEqual({ ...WsCloseCode });
    expect(closeRows).toHaveLength(Object.keys(WsCloseCode).length);
  });
});
