/**
 * The Lua steps against a real Redis: exactly-once storage, seq assignment, routing to live
 * servers only, retention trimming and `since` reads.
 */
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { ChannelStore, RedisKeys, type InboundMessage, type TargetState } from '@chat/shared';
import { RecentEvents } from '@chat/push-server';
import { RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';

const msg = (channel: string, id: string, text = id, author = 'alice'): InboundMessage => ({ channel, id, author, text, receivedAt: 0 });

describe('channel store (Lua) on a real Redis', function () {
  let server: RedisServer;
  let redis: Redis;
  const keys = new RedisKeys('t');
  /** The Redis server's clock (ms): the one the Lua steps stamp and trim by. */
  const redisNow = async (): Promise<number> => {
    const [sec, usec] = (await redis.time()) as unknown as [string, string];
    return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
  };

  before(async function () {
    server = await RedisServer.start();
    redis = server.client();
  });
  after(async function () {
    await server?.stop();
  });

  it('assigns consecutive seqs and stores a repeated (author, id) once, even within one batch', async function () {
    const store = new ChannelStore(redis, keys, 60_000);
    expect(await store.persist('s1', [msg('s1', 'a'), msg('s1', 'b'), msg('s1', 'a')])).to.deep.equal([1, 2, 0]);
    expect(await store.persist('s1', [msg('s1', 'b'), msg('s1', 'c'), msg('s1', 'a', 'a', 'bob')])).to.deep.equal([0, 3, 4]);
    const read = await store.read('s1', { last: 10 });
    expect(read.seq).to.equal(4);
    expect(read.frames.map((f) => JSON.parse(f).id)).to.deep.equal(['a', 'b', 'c', 'a']);
    expect(JSON.parse(read.frames[3] as string)).to.include({ author: 'bob', seq: 4, channel: 's1' });
  });

  it('rewrites a message to its current state byte for byte as JSON.stringify writes it, whatever its text', async function () {
    const store = new ChannelStore(redis, keys, 60_000);
    const tricky = 'a "quote" \\ back\nslash\t\u0001\u001f\u007f \u2028 </script> é 😀 \u0000 end';
    const upd = (id: string, author: string, update: InboundMessage['update'], text = ''): InboundMessage => ({ ...msg('w1', id, text, author), update });
    expect(await store.persist('w1', [msg('w1', 'm1', tricky, 'ålice "q"')])).to.deep.equal([1]);
    const [original] = (await store.read('w1', { last: 1 })).frames;
    const base = JSON.parse(original as string) as Record<string, unknown>;
    expect(await store.persist('w1', [
      upd('e1', 'ålice "q"', { target: 1, action: 'edit' }, `${tricky} (edited)`),
      upd('r1', 'bob', { target: 1, action: 'react', emoji: '😀' }),
      upd('r2', 'ålice "q"', { target: 1, action: 'react', emoji: '😀' }),
      upd('r3', 'bob', { target: 1, action: 'react', emoji: '\\"' }),
      upd('r4', 'bob', { target: 1, action: 'react', emoji: '😀' }), // already there: dropped
      upd('u1', 'carol', { target: 1, action: 'unreact', emoji: '😀' }), // not there: dropped
      upd('e2', 'mallory', { target: 1, action: 'edit' }, 'not hers'), // not the author: dropped
    ])).to.deep.equal([2, 3, 4, 5, -1, -1, -1]);
    const [now] = (await store.read('w1', { last: 1 })).frames;
    const edited = JSON.parse(now as string) as { edited: number };
    const expected = JSON.stringify({
      type: 'message', seq: 1, timestamp: base.timestamp, channel: 'w1', id: 'm1', author: 'ålice "q"', text: `${tricky} (edited)`,
      edited: edited.edited, reactions: { '\\"': ['bob'], '😀': ['bob', 'ålice "q"'].sort() },
    });
    expect(now).to.equal(expected);
    // Delete: the tombstone keeps the identity and drops text, edited and reactions.
    expect(await store.persist('w1', [upd('d1', 'ålice "q"', { target: 1, action: 'delete' })])).to.deep.equal([6]);
    const [tomb] = (await store.read('w1', { last: 1 })).frames;
    expect(tomb).to.equal(JSON.stringify({ type: 'message', seq: 1, timestamp: base.timestamp, channel: 'w1', id: 'm1', author: 'ålice "q"', text: '', deleted: true }));
    expect(await store.persist('w1', [upd('e3', 'ålice "q"', { target: 1, action: 'edit' }, 'after'), upd('e1', 'ålice "q"', { target: 1, action: 'edit' }, 'x')]))
      .to.deep.equal([-1, 0]);
    // A privileged (server API) delete of another author's message.
    expect(await store.persist('w1', [msg('w1', 'm2', 'two', 'bob'), upd('sd', 'server', { target: 7, action: 'delete', privileged: true })])).to.deep.equal([7, 8]);
    const since = await store.read('w1', { since: 0 });
    expect(since.frames.map((f) => `${JSON.parse(f).type}:${JSON.parse(f).seq}`)).to.deep.equal(
      ['message:1', 'update:2', 'update:3', 'update:4', 'update:5', 'update:6', 'message:7', 'update:8']);
    expect(since.complete).to.equal(true);
  });

  it('caps reactions at 20 emoji and 100 names per emoji, and lets updates and read markers expire with the retention', async function () {
    const store = new ChannelStore(redis, keys, 60_000);
    await store.persist('caps', [msg('caps', 'm')]);
    const reacts = Array.from({ length: 21 }, (_, i) => ({ ...msg('caps', `e${i}`, '', 'bob'), update: { target: 1, action: 'react' as const, emoji: `e${i}` } }));
    const seqs = await store.persist('caps', reacts);
    expect(seqs.filter((n) => n > 0)).to.have.length(20);
    expect(seqs[20]).to.equal(-1);
    const names = Array.from({ length: 101 }, (_, i) => ({ ...msg('caps', `n${i}`, '', `user-${i}`), update: { target: 1, action: 'react' as const, emoji: 'e0' } }));
    const named = await store.persist('caps', names);
    expect(named.filter((n) => n > 0)).to.have.length(99); // bob already holds one of the 100 places
    const [frame] = (await store.read('caps', { last: 1 })).frames;
    expect((JSON.parse(frame as string) as { reactions: Record<string, string[]> }).reactions.e0).to.have.length(100);
    expect(await store.markRead('caps', 'bob', 5)).to.equal(5);
    for (const key of [keys.channelEvents('caps'), keys.channelReads('caps'), keys.channelMessages('caps'), keys.channelIds('caps')]) {
      expect(await redis.pttl(key), `${key} expires`).to.be.within(1, 60_000);
    }
  });

  it('publishes only to servers whose route is live, and drops expired routes', async function () {
    const store = new ChannelStore(redis, keys, 60_000);
    const sub = server.client();
    const got: Array<[string, string]> = [];
    sub.on('message', (ch: string, m: string) => got.push([ch, m]));
    await sub.subscribe(keys.serverInbox('live'), keys.serverInbox('dead'));
    const [sec] = (await redis.time()) as unknown as [string, string];
    const now = Number(sec) * 1000;
    await redis.zadd(keys.channelRoutes("r1"), String(now + 60_000), "live", String(now - 1000), "dead");
    await store.persist('r1', [msg('r1', 'x')]);
    await waitFor(() => got.length === 1, 'one publish');
    expect(got[0]?.[0]).to.equal(keys.serverInbox('live'));
    expect(JSON.parse(got[0]?.[1] as string)).to.include({ type: 'message', seq: 1, id: 'x' });
    expect(await redis.zrange(keys.channelRoutes('r1'), '0', '-1')).to.deep.equal(['live']);
    // A duplicate is not published again.
    await store.persist('r1', [msg('r1', 'x'), msg('r1', 'y')]);
    await waitFor(() => got.length === 2, 'the second publish');
    expect(JSON.parse(got[1]?.[1] as string)).to.include({ id: 'y', seq: 2 });
    sub.disconnect();
  });

  it('caps since reads at 1000 and says complete:false', async function () {
    const store = new ChannelStore(redis, keys, 600_000);
    const batch = Array.from({ length: 1200 }, (_, i) => msg('big', `m${i}`));
    await store.persist('big', batch);
    const capped = await store.read('big', { since: 0 });
    expect(capped.frames).to.have.length(1000);
    expect(capped).to.include({ seq: 1200, complete: false });
    const rest = await store.read('big', { since: 1000 });
    expect(rest.frames).to.have.length(200);
    expect(rest.complete).to.equal(true);
    const ahead = await store.read('big', { since: 5000 });
    expect(ahead).to.deep.include({ frames: [], complete: false });
  });

  it('trims messages past the retention, expires idle channel keys, and says complete:false for trimmed since', async function () {
    const retention = 2000;
    const store = new ChannelStore(redis, keys, retention);
    await store.persist('ret', [msg('ret', 'old-1'), msg('ret', 'old-2')]);
    for (const key of [keys.channelMessages('ret'), keys.channelSeq('ret'), keys.channelIds('ret')]) {
      expect(await redis.pttl(key), key).to.be.within(1, retention);
    }
    const oldAt = JSON.parse((await store.read('ret', { last: 1 })).frames[0] as string).timestamp as number;
    await waitFor(async () => (await redisNow()) > oldAt + retention * 0.6, 'part of the retention to pass');
    expect(await store.persist('ret', [msg('ret', 'mid-1')])).to.deep.equal([3]);
    await waitFor(async () => (await redisNow()) > oldAt + retention, 'the first two to age out');
    // old-1 aged out with its de-duplication key, so the same id is a new message now.
    expect(await store.persist('ret', [msg('ret', 'new-1'), msg('ret', 'old-1')])).to.deep.equal([4, 5]);
    const read = await store.read('ret', { since: 0 });
    expect(read.frames.map((f) => JSON.parse(f).id)).to.deep.equal(['mid-1', 'new-1', 'old-1']);
    expect(read).to.include({ seq: 5, complete: false });
    expect((await store.read('ret', { since: 2 })).complete).to.equal(true);
    expect(await redis.zcard(keys.channelMessages('ret'))).to.equal(3);
    expect(await redis.zcard(keys.channelIds('ret'))).to.equal(3);
    await waitFor(async () => (await redis.exists(keys.channelMessages('ret'), keys.channelIds('ret'), keys.channelSeq('ret'))) === 0,
      'the idle channel\'s keys to expire', 3 * retention);
  });

  it('trims an expired backlog longer than one read chunk (200) in one persist, and nothing while the oldest is fresh', async function () {
    const retention = 2000;
    const store = new ChannelStore(redis, keys, retention);
    await store.persist('backlog', Array.from({ length: 450 }, (_, i) => msg('backlog', `old-${i}`)));
    const storedAt = JSON.parse((await store.read('backlog', { last: 1 })).frames[0] as string).timestamp as number;
    await waitFor(async () => (await redisNow()) > storedAt + retention * 0.6, 'part of the retention to pass');
    // The oldest is still fresh: nothing goes (and the keys' expiry is renewed).
    expect(await store.persist('backlog', [msg('backlog', 'fresh-1')])).to.deep.equal([451]);
    expect(await redis.zcard(keys.channelMessages('backlog'))).to.equal(451);
    await waitFor(async () => (await redisNow()) > storedAt + retention, 'the backlog to age out');
    expect(await store.persist('backlog', [msg('backlog', 'fresh-2')])).to.deep.equal([452]);
    expect(await redis.zcard(keys.channelMessages('backlog'))).to.equal(2);
    expect(await redis.zcard(keys.channelIds('backlog'))).to.equal(2);
    const read = await store.read('backlog', { since: 450 });
    expect(read.frames.map((f) => JSON.parse(f).id)).to.deep.equal(['fresh-1', 'fresh-2']);
    expect(read).to.include({ seq: 452, complete: true });
  });

  it('gives the same update check from the events a push server received as from the store, through random updates', async function () {
    const store = new ChannelStore(redis, keys, 60_000);
    const sub = server.client();
    const kept = new RecentEvents(100_000);
    const short = new RecentEvents(16); // evicts: answers only for the last 16 seqs
    sub.on('message', (_: string, payload: string) => {
      for (const frame of payload.split('\n')) {
        const seq = (JSON.parse(frame) as { seq: number }).seq;
        kept.add(seq, frame);
        short.add(seq, frame);
      }
    });
    await sub.subscribe(keys.serverInbox('here'));
    await redis.zadd(keys.channelRoutes('rc'), String(await redisNow() + 60_000), 'here');
    let state = 7; // mulberry32: the same sequence every run
    const random = (n: number): number => {
      state = (state + 0x6d2b79f5) | 0;
      let t = Math.imul(state ^ (state >>> 15), 1 | state);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const authors = ['ann', 'ben', 'cy'];
    const emoji = ['👍', '🎉', 'ok'];
    let latest = 0;
    const messages: Array<{ seq: number; author: string }> = [];
    for (let batch = 0, id = 0; batch < 150; batch++) {
      const events: InboundMessage[] = [];
      for (let n = 1 + random(4); n > 0; n--, id++) {
        let author = authors[random(3)] as string;
        if (messages.length === 0 || random(10) < 3) { events.push(msg('rc', `m${id}`, `text ${id}`, author)); continue; }
        // Mostly one of the last 20 messages, by its author for an edit or delete; sometimes any seq (an update's, a deleted one).
        const recent = messages[messages.length - 1 - random(Math.min(20, messages.length))] as { seq: number; author: string };
        const target = random(5) === 0 ? 1 + random(latest) : recent.seq;
        const action = (['edit', 'delete', 'react', 'react', 'react', 'unreact', 'unreact', 'edit'] as const)[random(8)] as NonNullable<InboundMessage['update']>['action'];
        if ((action === 'edit' || action === 'delete') && random(10) < 8) author = recent.author;
        const update = action === 'react' || action === 'unreact' ? { target, action, emoji: emoji[random(3)] as string } : { target, action };
        events.push({ ...msg('rc', `u${id}`, action === 'edit' ? `edit ${id}` : '', author), update });
      }
      const seqs = await store.persist('rc', events);
      seqs.forEach((seq, i) => { if (seq > 0 && !events[i]?.update) messages.push({ seq, author: events[i]?.author as string }); });
      latest = Math.max(latest, ...seqs);
    }
    await waitFor(() => kept.target(latest, 0) !== undefined || undefined, 'every stored event at the subscriber');
    const sorted = (t: TargetState | undefined): unknown => (t?.state !== 'message' ? t : {
      ...t.message, reactions: t.message.reactions && Object.fromEntries(Object.entries(t.message.reactions).map(([e, names]) => [e, [...names].sort()])),
    });
    let answered = 0;
    for (let seq = 1; seq <= latest; seq++) {
      const stored = await store.target('rc', seq);
      expect(sorted(kept.target(seq, 0)), `seq ${seq}`).to.deep.equal(sorted(stored));
      const fromShort = short.target(seq, 0);
      if (seq > latest - 16) { expect(sorted(fromShort), `seq ${seq} (last 16)`).to.deep.equal(sorted(stored)); answered++; } else expect(fromShort).to.equal(undefined);
    }
    expect(answered).to.equal(16);
    expect(kept.target(latest + 1, 0), 'past the latest: ask the store').to.equal(undefined);
    sub.disconnect();
  });
});
