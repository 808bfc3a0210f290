import { describe, expect, it } from 'vitest';
import { createEndpoint, generateSecret } from '../src/index.js';

describe('endpoint', () => {
  it('round-trips a payload from WebApp to CoreApp', async () => {
    const secret = generateSecret();
    const web = await createEndpoint({ role: 'webapp', secret });
    const core = await createEndpoint({ role: 'coreapp', secret });
    const opened = await core.open(web.seal({ hello: 'world' }));
    expect(opened.payload).toEqual({ hello: 'world' });
  });
});
