// The WebSocket binding's types, in a project that has never heard of @types/ws (issue 15: TS7016).
import { createEndpoint } from 'wa-transport';
import { type WsChannel, WsServer } from 'wa-transport/ws';

const endpoint = await createEndpoint({ role: 'coreapp', secret: 'x' });
const channels: WsChannel[] = [];
const server = new WsServer({ endpoint, onConnection: (channel) => channels.push(channel) });
await server.close();
