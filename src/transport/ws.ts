/**
 * WebSocket channel (`wa-transport/ws`): every frame is a sealed envelope.
 *
 * ## Use
 *
 *   // CoreApp (server): attach to an http.Server or https.Server (WSS)
 *   const ws = new WsServer({ endpoint, server, path: '/ws',
 *     onMessage: async (payload, channel) => { await channel.send({ echo: payload }); } });
 *   // … await ws.close();            // closes the channels, leaves `server` open
 *
 *   // WebApp (client): connects, authenticates, reconnects with backoff
 *   const client = new WsClient({ endpoint, url: 'ws://core:8080/ws', onMessage: (payload) => {} });
 *   await client.ready();              // resolves once the channel is open
 *   await client.send({ hello: 1 });   // resolves when written to the socket
 *   await client.close();
 *
 * Several paths on one server: `new WsServer({ endpoint })` without `server`, then call
 * `ws.handleUpgrade(req, socket, head)` from your server's `'upgrade'` event.
 *
 * ## Protocol (contexts in ws-protocol.ts, public on `wa-transport/protocol`)
 *
 * 1. The client sends `wa-hello: <text envelope>`: an empty payload sealed with the context
 *    `wa-ws/1:hello:<path and query>`. The server opens it with the full replay policy
 *    (window, nonce cache) before accepting: otherwise HTTP 401 (503 when the replay store
 *    cannot answer), logged as `wa_transport.ws.refused` with the error code and peer address.
 * 2. The hello's nonce, base64url, is the connection id. The server's first frame is a sealed
 *    welcome (`wa-ws/1:<id>:welcome`); the client's channel opens only once it authenticates.
 * 3. Data frame n (from 0) of each direction is sealed with `wa-ws/1:<id>:c2s:<n>` or
 *    `wa-ws/1:<id>:s2c:<n>`, and goes through `endpoint.open` like any envelope.
 *
 * ## Close codes
 *
 * The close codes and when each is sent: docs/PROTOCOL.md §8.2, the one table (`WsCloseCode`
 * holds the numbers, test/protocol-tables.test.ts holds the code to the spec).
 *
 * The first bad frame closes the channel: after it, order can no longer be trusted. Reasons are
 * short and fixed (an `ERR_WA_*` code). A dropped *last* frame is not detectable by a sequence.
 *
 * ## Flow control and liveness
 *
 * - `send()` resolves when the frame is written to the socket: awaiting it paces the sender.
 *   While more than `maxBufferedBytes` (default 1 MiB) are buffered it rejects at once with
 *   `WsChannelError` ERR_WA_WS_BACKPRESSURE, sending nothing: there is no hidden send queue.
 * - Received frames are handled one at a time (an async `onMessage` is awaited); when
 *   `maxBufferedBytes` of frames wait, the socket is no longer read and TCP pushes back.
 * - A ping every `heartbeatMs` (default 30 s); a peer with no pong by the next ping is
 *   terminated (1006). A peer that reads nothing for that long counts as dead too.
 * - Client reconnects: delay min(maxDelayMs, initialDelayMs·factor^n), minus up to `jitter` of
 *   it at random; defaults 250 ms, 30 s, 2, 0.5, unlimited attempts; `reconnect: false` or
 *   `close()` stops it. Each connection is new (new id, sequences from 0); nothing is re-sent.
 */
export { WsServer } from './ws-server.js';
export type { WsServerOptions } from './ws-server.js';
export { WsClient } from './ws-client.js';
export type { WsClientOptions, WsClientCloseEvent, WsReconnectOptions } from './ws-client.js';
export type { WsChannel, WsChannelError, WsChannelErrorCode, WsCloseEvent } from './ws-channel.js';
