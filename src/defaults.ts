/**
 * Defaults that more than one layer needs (the verifier, the stores, the configuration), kept
 * in a leaf so that nothing low has to import something high to learn them.
 */

/** How old an envelope may be, in ms (docs/PROTOCOL.md §4.2). */
export const DEFAULT_WINDOW_MS = 10_000;
/** How far ahead of the receiver's clock an envelope's timestamp may be, in ms. */
export const DEFAULT_MAX_SKEW_MS = 10_000;
