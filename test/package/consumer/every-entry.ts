// Every entry point but /redis (which needs ioredis), in a project without ioredis or @types/ws.
export * as root from 'wa-transport';
export * as http from 'wa-transport/http';
export * as express from 'wa-transport/express';
export * as fastify from 'wa-transport/fastify';
export * as ws from 'wa-transport/ws';
export * as tls from 'wa-transport/tls';
export * as ops from 'wa-transport/ops';
export * as protocol from 'wa-transport/protocol';
