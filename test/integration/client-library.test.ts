/**
 * The client library (`@chat/client`) against real push servers and workers: a kill -9 of its
 * push server while messages flow, sends made while disconnected, a 4001 close answered with a
 * new token, paging to the start, and a channel model that matches the server after a burst of
 * edits, deletes and reactions.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { Chat, type ChatState, type MessageFrame } from '@chat/client';
import { mintToken, type SocketLike } from '@chat/shared';
import { PushServerProcess } from '../helpers/programs.js';
import { Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'client-library-test-secret-0123456789';
const API_KEY = 'client-library-test-server-key-0123456';
const socket = (u: string): SocketLike => new WebSocket(u) as unknown as SocketLike;
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('client library (@chat/client)', function () {
  let stack: Stack;
  const chats: Chat[] = [];
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, env: { AUTH_SECRET: SECRET, SERVER_API_KEY: API_KEY, QUEUE_PARTITIONS: '2' } });
  });
  after(async function () {
    await Promise.all(chats.map((c) => c.close()));
    await stack?.stop();
  });
  const chat = (user: string, urls: string[], ttl = 3600, extra: Partial<ConstructorParameters<typeof Chat>[0]> = {}): Chat => {
    const c = new Chat({ urls, socket, getToken: () => mintToken(user, SECRET, ttl), backoff: { initialMs: 50, maxMs: 500 }, ...extra });
    chats.push(c);
    return c;
  };
  const post = async (channel: string, text: string, id: string): Promise<void> => {
    const res = await fetch(`${stack.push(0).httpUrl}/api/messages`, {
      method: 'POST', headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, text, id, author: 'feeder' }),
    });
    expect(res.status).to.equal(202);
  };
  const storedSeq = async (channel: string): Promise<number> => Number(await stack.redis.client().get(`chat:ch:{${channel}}:seq`));

  it('moves to the other push server after a kill -9, and every channel continues with no gap and no duplicate', async function () {
    this.timeout(60_000);
    const victim = await PushServerProcess.start(stack.env);
    stack.pushServers.push(victim);
    const c = chat('mover', [victim.url, stack.push(1).url]);
    await c.connect();
    const channels = ['move-a', 'move-b'];
    const seen = new Map(channels.map((ch) => [ch, [] as number[]]));
    for (const name of channels) {
      const ch = c.channel(name);
      ch.on('message', (m) => seen.get(name)?.push(m.seq));
      await ch.join();
    }
    const states: ChatState[] = [];
    c.on('state', (s) => states.push(s.state));
    let feeding = true;
    let n = 0;
    const feed = (async () => {
      while (feeding) {
        n++;
        await Promise.all(channels.map((ch) => post(ch, `m${n}`, `${ch}-${n}`)));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await waitFor(() => (seen.get('move-a')?.length ?? 0) >= 20 || undefined, '20 messages before the kill');
    await victim.program.kill('SIGKILL');
    await waitFor(() => (c.state === 'connected' && states.includes('reconnecting')) || undefined, 'the client to reconnect');
    const after = n;
    await waitFor(() => n >= after + 20 || undefined, '20 more rounds after the reconnect');
    feeding = false;
    await feed;
    for (const name of channels) {
      const total = await storedSeq(name);
      expect(total).to.equal(n);
      await waitFor(() => (seen.get(name)?.length ?? 0) >= total || undefined, () => `${name}: every message at the client (${seen.get(name)?.length} of ${total})`);
      expect(seen.get(name), `${name}: each seq once, in order`).to.deep.equal(range(total));
      expect(c.channel(name).messages.slice(-10).map((m) => m.seq)).to.deep.equal(range(total).slice(-10));
    }
  });

  it('delivers what was sent while disconnected, once, after the reconnect', async function () {
    this.timeout(60_000);
    const server = await PushServerProcess.start(stack.env);
    const port = server.port;
    const c = chat('offline', [server.url]);
    await c.connect();
    const ch = c.channel('offline');
    await ch.join();
    await ch.send('before', 'o0');
    await server.program.kill('SIGKILL');
    await waitFor(() => c.state === 'reconnecting' || undefined, 'the client to notice the drop');
    const sends = [1, 2, 3, 4, 5].map((i) => ch.send(`while away ${i}`, `o${i}`));
    // The same push server comes back on its port: the queue goes out, each frame once.
    const back = await PushServerProcess.start({ ...stack.env, PORT: String(port) });
    stack.pushServers.push(back);
    await Promise.all(sends);
    await waitFor(() => ch.messages.length >= 6 || undefined, 'all six messages in the model');
    expect(ch.messages.map((m) => m.text)).to.deep.equal(['before', ...[1, 2, 3, 4, 5].map((i) => `while away ${i}`)]);
    expect(await storedSeq('offline')).to.equal(6);
  });

  it('gets a new token from getToken after a 4001 close and carries on', async function () {
    this.timeout(30_000);
    let issued = 0;
    // Tokens live 3 s and the first refresh fails, so the server closes with 4001 at exp.
    const c = new Chat({
      urls: [stack.push(0).url], socket, backoff: { initialMs: 50, maxMs: 200 },
      getToken: async () => { issued++; if (issued === 2) throw new Error('identity provider down'); return mintToken('expiring', SECRET, 3); },
    });
    chats.push(c);
    const reasons: string[] = [];
    c.on('state', (s) => reasons.push(s.reason));
    await c.connect();
    const ch = c.channel('expiry');
    await ch.join();
    await ch.send('first', 'x1');
    await waitFor(() => reasons.some((r) => r.includes('4001')) || undefined, 'a 4001 close', 10_000);
    await waitFor(() => c.state === 'connected' || undefined, 'connected again with a new token');
    await ch.send('after the new token', 'x2');
    await waitFor(() => ch.messages.length >= 2 || undefined, 'both messages');
    expect(ch.messages.map((m) => m.text)).to.deep.equal(['first', 'after the new token']);
    expect(issued).to.be.at.least(3);
  });

  it('pages back to the start, and keeps a model equal to the server after a burst of edits, deletes and reactions', async function () {
    this.timeout(60_000);
    const writer = chat('writer', [stack.push(0).url, stack.push(1).url]);
    const other = chat('reader', [stack.push(1).url, stack.push(0).url]);
    await Promise.all([writer.connect(), other.connect()]);
    const w = writer.channel('model');
    const r = other.channel('model');
    await w.join();
    await r.join();
    expect([...(await r.loadPresence())].sort(), 'the full presence list, asked for').to.deep.equal(['reader', 'writer']);
    const total = 120;
    await Promise.all(range(total).map((i) => w.send(`line ${i}`, `l${i}`)));
    await waitFor(() => r.model.lastSeq >= total || undefined, 'every message at the reader');
    const burst: Promise<unknown>[] = [];
    for (let i = total - 40; i <= total; i++) {
      if (i % 3 === 0) burst.push(w.edit(i, `line ${i}, edited`));
      if (i % 7 === 0) burst.push(w.delete(i));
      if (i % 2 === 0) burst.push(r.react(i, '👍'), w.react(i, '🎉'));
      if (i % 4 === 0) burst.push(r.unreact(i, '👍'));
    }
    // The reader's reactions race the writer's deletes: a react on a message already deleted is
    // refused with not_found, as it should be; nothing else may fail.
    const outcomes = await Promise.allSettled(burst);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => (o.reason as { code: string }).code);
    expect(refused.filter((c) => c !== 'not_found'), 'refusals other than not_found').to.deep.equal([]);
    const latest = await storedSeq('model');
    await waitFor(() => (r.model.lastSeq >= latest && w.model.lastSeq >= latest) || undefined, 'every update at both');
    // Scroll back to the start.
    while (await r.page(50));
    expect(r.messages.map((m) => m.seq)).to.deep.equal(range(total));
    expect(r.more).to.equal(false);
    // The model equals a fresh read of the server (current state of every message).
    const res = await fetch(`${stack.push(0).httpUrl}/channels/model/messages?before=&limit=100`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const page1 = (await res.json()) as { messages: MessageFrame[] };
    const res2 = await fetch(`${stack.push(0).httpUrl}/channels/model/messages?before=${page1.messages[0]?.seq}&limit=100`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const server = [...((await res2.json()) as { messages: MessageFrame[] }).messages, ...page1.messages];
    expect(server.map((m) => m.seq)).to.deep.equal(range(total));
    expect(r.messages).to.deep.equal(server);
    expect(w.messages.slice(-50)).to.deep.equal(server.slice(-50));
    // Read markers: the reader marks everything read, the writer sees it.
    r.markRead();
    await waitFor(() => w.seenBy(total).includes('reader') || undefined, 'the writer to see the reader\'s marker');
    expect(r.unread).to.equal(0);
  });
});
