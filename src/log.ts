/**
 * The logging surface: the part of pino's `Logger` that wa-transport calls, so a pino logger
 * (or a child of one) can be passed as is. Log records carry codes, key ids and peers, never
 * payloads, secrets or keys.
 */
export interface Logger {
  warn(record: object, message?: string): void;
  info(record: object, message?: string): void;
}

/** Used when no logger is given: wa-transport is silent by default. */
export const silentLogger: Logger = {
  warn() {},
  info() {},
};

/**
 * The logger of something built on an endpoint: its own `logger` option when given, else the
 * endpoint's (`createEndpoint({ logger })`), so one logger passed once reaches every transport.
 */
export function loggerOf(own: Logger | undefined, endpoint: { readonly logger?: Logger } | undefined): Logger {
  return own ?? endpoint?.logger ?? silentLogger;
}
