/**
 * Hostile input and abuse: authentication, origins, per-connection limits, flooding, back-pressure.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { ChatClient, ChatError, mintToken, type ErrorFrame, type SocketLike } from '@chat/shared';
import { tryConnect } from '../helpers/raw-ws.js';
import { scrapeCounter } from '../helpers/metrics.js';
import { runProducer, startWorker } from '../helpers/programs.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'test-secret-0123456789abcdef';

describe('authentication and origins', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({
      pushServers: 1, workers: 1,
      env: { AUTH_SECRET: SECRET, ALLOWED_ORIGINS: 'https://chat.example,http://localhost:8080' },
    });
  });
  after(async function () {
    await stack?.stop();
  });

  it('refuses a missing token, a bad signature, an expired token and a wrong origin before any socket opens', async function () {
    const url = `${stack.push(0).url}/ws`;
    const good = await mintToken('alice', SECRET, 60);
    const cases: Array<[string, Record<string, string>, number, RegExp]> = [
      [url, {}, 401, /token is required/],
      [`${url}?user=alice`, {}, 401, /token is required/],
      [`${url}?token=${await mintToken('alice', 'another-secret-0123456789', 60)}`, {}, 401, /signature/],
      [`${url}?token=${await mintToken('alice', SECRET, -10)}`, {}, 401, /expired/],
      [`${url}?token=not.a.jwt`, {}, 401, /not valid/],
      [`${url}?token=${good}`, { Origin: 'https://evil.example' }, 403, /origin https:\/\/evil\.example is not allowed/],
    ];
    for (const [target, headers, status, body] of cases) {
      const outcome = await tryConnect(target, headers);
      expect(outcome.opened, `${target.slice(-30)} ${JSON.stringify(headers)}`).to.equal(false);
      if (!outcome.opened) {
        expect(outcome.status).to.equal(status);
        expect(outcome.body).to.match(body);
      }
    }
    const stats = await runProducer(['stats', '--json', '--interval', '100'], { REDIS_URL: stack.redis.url });
    await waitFor(async () => {
      const r = await runProducer(['stats', '--json', '--interval', '100'], { REDIS_URL: stack.redis.url });
      return JSON.parse(r.stdout).pushServers[0]?.connections === 0;
    }, 'no connection to have been opened');
    expect(stats.code).to.equal(0);
  });

  it('takes the name from the token, wherever the token comes from, and allows the same user twice', async function () {
    const token = await mintToken('alice', SECRET, 60);
    const viaQuery = await tryConnect(`${stack.push(0).url}/ws?token=${token}&user=mallory`, { Origin: 'https://chat.example' });
    const viaHeader = await tryConnect(`${stack.push(0).url}/ws`, { Authorization: `Bearer ${token}` });
    const viaCookie = await tryConnect(`${stack.push(0).url}/ws`, { Cookie: `theme=dark; token=${token}` });
    for (const o of [viaQuery, viaHeader, viaCookie]) {
      expect(o.opened).to.equal(true);
      if (o.opened) { expect(o.welcome.user).to.equal('alice'); o.ws.close(); }
    }
    const socket = (u: string): SocketLike => new WebSocket(u) as unknown as SocketLike;
    const tab1 = await ChatClient.connect(stack.push(0).url, { token, user: 'mallory', socket });
    const tab2 = await ChatClient.connect(stack.push(0).url, { token, socket });
    await tab1.join('authed');
    await tab2.join('authed');
    const got = collect(tab2, 'authed');
    tab1.sendRaw(JSON.stringify({ type: 'message', channel: 'authed', text: 'signed', id: 'a-1', author: 'mallory' }));
    await waitForCount(got, 1, 'the message');
    expect(got[0]).to.include({ author: 'alice', text: 'signed' });
    expect((await tab2.presence('authed')).users).to.deep.equal(['alice']);
    const bob = await ChatClient.connect(stack.push(0).url, { token: await mintToken('bob', SECRET, 60), socket });
    await bob.join('authed');
    expect((await bob.presence('authed')).users).to.deep.equal(['alice', 'bob']);
    await Promise.all([tab1.close(), tab2.close(), bob.close()]);
  });

  it('mints tokens with chat-producer token', async function () {
    const r = await runProducer(['token', '--user', 'carol', '--ttl', '60'], { AUTH_SECRET: SECRET });
    expect(r.code, r.stderr).to.equal(0);
    const c = await ChatClient.connect(stack.push(0).url, { token: r.stdout.trim(), socket: (u) => new WebSocket(u) as unknown as SocketLike });
    expect(c.welcome.user).to.equal('carol');
    await c.close();
  });
});

describe('limits and abuse', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({
      pushServers: 1, workers: 1,
      env: { RATE_LIMIT: '5', RATE_BURST: '5', MAX_CHANNELS_PER_CONNECTION: '3', MAX_CONNECTIONS_PER_IP: '6' },
    });
  });
  after(async function () {
    await stack?.stop();
  });

  it('rate-limits messages, and closes a connection that keeps flooding with 1008', async function () {
    const c = await stack.connect(0, 'flooder');
    await c.join('flood');
    const errors: ErrorFrame[] = [];
    c.on('error', (e) => errors.push(e));
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) acks.push(c.send('flood', `m${i}`, `f${i}`).catch((e: ChatError) => e));
    const results = await Promise.all(acks);
    const limited = results.filter((r) => r instanceof ChatError && r.code === 'rate_limited');
    expect(limited.length).to.be.at.least(1);
    expect(results.filter((r) => !(r instanceof ChatError)).length).to.be.at.least(4);
    const closed = c.waitClosed();
    for (let i = 0; i < 500 && c.isOpen; i++) c.sendRaw(JSON.stringify({ type: 'message', channel: 'flood', text: 'x' }));
    expect((await closed).code).to.equal(1008);
  });

  it('answers internal when Redis fails mid-request, and the connection stays usable', async function () {
    // A channel whose message key holds the wrong type: Redis refuses the history read (WRONGTYPE).
    await stack.redis.client().set('chat:ch:{broken}:msgs', 'not a sorted set');
    const c = await stack.connect(0, 'unlucky');
    const refused = await c.join('broken').then(() => undefined, (e: ChatError) => e.frame);
    expect(refused).to.include({ type: 'error', code: 'internal', channel: 'broken' });
    expect(refused?.message).to.match(/could not complete this request: retry/);
    expect(stack.push(0).program.logs.some((l) => l.msg === 'request failed' && l.channel === 'broken' && /WRONGTYPE/.test(String(l.error)))).to.equal(true);
    // The failed join left nothing behind: the name is free and other channels work.
    expect((await fetch(`${stack.push(0).httpUrl}/channels/broken/presence`).then((r) => r.json()) as { users: string[] }).users).to.deep.equal([]);
    await c.join('fine');
    await c.leave('fine');
  });

  it('caps the channels per connection', async function () {
    const c = await stack.connect(0, 'joiner');
    for (const ch of ['c1', 'c2', 'c3']) await c.join(ch);
    const refused = await c.join('c4').then(() => undefined, (e: ChatError) => e.frame);
    expect(refused).to.include({ code: 'bad_request', channel: 'c4' });
    expect(refused?.message).to.match(/at most 3 channels/);
    await c.leave('c1');
    await c.join('c4');
  });

  it('caps the connections per address with 429', async function () {
    // Every connection of this suite comes from 127.0.0.1: the cap of 6 counts those still open.
    const already = await scrapeCounter(`${stack.push(0).httpUrl}/metrics`, 'chat_connections');
    const open: WebSocket[] = [];
    for (;;) {
      const o = await tryConnect(`${stack.push(0).url}/ws`);
      if (!o.opened) {
        expect(o.status).to.equal(429);
        expect(o.body).to.match(/too many connections/);
        break;
      }
      open.push(o.ws);
      expect(open.length).to.be.at.most(6);
    }
    expect(open.length + already, 'connections open from 127.0.0.1 when the 429 came').to.equal(6);
    for (const ws of open) ws.close();
    await waitFor(async () => (await tryConnect(`${stack.push(0).url}/ws`)).opened || undefined, 'a slot to free up');
  });
});

describe('back-pressure', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 1, workers: 0, env: { QUEUE_HIGH_WATER: '5', QUEUE_PARTITIONS: '1' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('answers overloaded past the queue high-water mark, and accepts again once workers catch up', async function () {
    const c = await stack.connect(0, 'pressure');
    await c.join('bp');
    const got = collect(c, 'bp');
    const acked: string[] = [];
    let refused: ChatError | undefined;
    for (let i = 0; i < 200 && !refused; i++) {
      try {
        await c.send('bp', `m${i}`, `bp-${i}`);
        acked.push(`bp-${i}`);
      } catch (err) {
        refused = err as ChatError;
      }
      if (acked.length >= 5) await new Promise((r) => setTimeout(r, 60));
    }
    expect(refused?.frame).to.include({ code: 'overloaded' });
    expect(acked.length).to.be.at.least(5);
    stack.workers.push(await startWorker(stack.env));
    await waitForCount(got, acked.length, 'every acknowledged message');
    expect(got.map((m) => m.id)).to.deep.equal(acked);
    // The refused id can be sent again once the queue drained.
    await waitFor(async () => c.send('bp', 'retry', refused?.frame?.ref).then(() => true, () => false), 'the retry to be accepted');
    await waitForCount(got, acked.length + 1, 'the retried message');
  });
});
