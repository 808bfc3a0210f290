/**
 * `host:port` lists (Redis Sentinel and Cluster seeds), parsed in one place for the store's
 * options and for the environment (src/ops/config.ts), without loading ioredis.
 */
import { ErrorCode, WaTransportError } from '../errors.js';

export interface HostAndPort {
  readonly host: string;
  readonly port: number;
}

/** A host name, IPv4 address or bracketed IPv6 address, a colon, and a port 1-65535. */
const HOST_AND_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/@[\]]+):(\d{1,5})$/;

/** `host:port` items; an error names `name` (an option or a variable) and the bad item. */
export function parseAddresses(items: readonly string[], name: string): HostAndPort[] {
  if (!Array.isArray(items) || items.length === 0) {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must list at least one host:port`);
  }
  return items.map((item) => {
    const match = typeof item === 'string' ? HOST_AND_PORT.exec(item) : null;
    const port = Number(match?.[2]);
    if (match === null || !(port >= 1 && port <= 65535)) {
      throw new WaTransportError(ErrorCode.CONFIG, `${name}: ${String(item)} is not host:port (port 1-65535)`);
    }
    return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
  });
}
