/**
 * Reading `WA_*` variables: the shape of an environment and the two helpers every reader of it
 * (config.ts, db-tls.ts) uses, so errors name the variable the same way everywhere.
 */
import { ErrorCode, WaTransportError } from '../errors.js';

/** The environment, or any plain object of the same shape. */
export type Env = Readonly<Record<string, string | undefined>>;

/** How a reader reports a warning; config.ts routes it to the logger or `process.emitWarning`. */
export type Warn = (variable: string, message: string, kind: 'security' | 'deprecation') => void;

/** ERR_WA_CONFIG with a message that starts with the variable's name. */
export function configError(variable: string, problem: string): WaTransportError {
  return new WaTransportError(ErrorCode.CONFIG, `${variable} ${problem}`);
}

/** A variable's value; an empty one counts as unset (`WA_PREVIOUS_SECRETS=` in a compose file means none). */
export function value(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}
