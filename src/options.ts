/** Checks shared by every options object: a bad value is a configuration error naming the option. */
import { ErrorCode, WaTransportError } from './errors.js';

export function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a positive integer`);
  }
  return value;
}

export function nonNegativeInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new WaTransportError(ErrorCode.CONFIG, `${name} must be a non-negative integer`);
  }
  return value;
}
