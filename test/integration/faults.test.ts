/**
 * Crashes and outages, done for real: Redis killed and restarted with AOF, a push server killed
 * -9 during a load. After each, every acknowledged message is stored exactly once, the channel's
 * seq is gap-free, and every member that resumed with `since` has exactly the stored sequence.
 */
import { expect } from 'chai';
import { ChannelStore, ChatError, RedisKeys, type MessageFrame } from '@chat/shared';
import { ResilientSender } from '../helpers/resilient-sender.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

async function stored(stack: Stack, channel: string): Promise<MessageFrame[]> {
  const store = new ChannelStore(stack.redis.client(), new RedisKeys('chat'), 86_400_000);
  return (await store.read(channel, { since: 0 })).frames.map((f) => JSON.parse(f) as MessageFrame);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k + 1);

describe('Redis stopped and restarted with AOF', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, redis: { appendOnly: true }, env: { STALLED_INTERVAL_MS: '1000' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('keeps every acked message, refuses sends while Redis is away, and resumes delivery', async function () {
    const a = await stack.connect(0, 'before');
    const b = await stack.connect(1, 'after');
    await a.join('outage');
    await b.join('outage');
    const atB = collect(b, 'outage');
    for (let i = 0; i < 20; i++) await a.send('outage', `m${i}`, `o-${i}`);
    await waitForCount(atB, 20, 'the first 20 messages');

    await stack.redis.kill();
    for (const p of stack.pushServers) {
      await waitFor(async () => (await fetch(`${p.httpUrl}/ready`)).status === 503 || undefined, `${p.serverId} to report not ready`);
    }
    const refused = await a.send('outage', 'while away', 'o-away').then(() => undefined, (e: ChatError) => e.code);
    expect(refused, 'a send while Redis is away').to.equal('overloaded');

    await stack.redis.launch();
    for (const p of stack.pushServers) {
      await waitFor(async () => (await fetch(`${p.httpUrl}/ready`)).status === 200 || undefined, `${p.serverId} to be ready again`, 20_000);
    }
    const kept = await stored(stack, 'outage');
    expect(kept.map((m) => m.id)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `o-${i}`));

    await waitFor(() => a.send('outage', 'while away', 'o-away').then(() => true, () => false), 'the retry to be accepted', 20_000);
    for (let i = 20; i < 40; i++) await a.send('outage', `m${i}`, `o-${i}`);
    await waitForCount(atB, 41, 'every message after the restart', 20_000);
    expect(atB.map((m) => m.seq)).to.deep.equal(range(41));
    const all = await stored(stack, 'outage');
    expect(all.map((m) => m.seq)).to.deep.equal(range(41));
    expect(new Set(all.map((m) => m.id)).size).to.equal(41);
    expect((await b.presence('outage')).users).to.deep.equal(['after', 'before']);
  });
});

describe('a push server killed -9 during a load', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2 });
  });
  after(async function () {
    await stack?.stop();
  });

  it('loses nothing: clients resume elsewhere with since and see exactly the stored sequence', async function () {
    const alive = new Set([0, 1]);
    const urls = (): string[] => [...alive].map((i) => stack.push(i).url);
    const senders = Array.from({ length: 6 }, (_, i) => new ResilientSender(() => {
      const list = urls();
      return [...list.slice(i % list.length), ...list.slice(0, i % list.length)];
    }, `crasher-${i}`, 'crash-load'));
    await Promise.all(senders.map((s) => s.connect()));
    const perSender = 60;
    let acks = 0;
    await Promise.all(senders.map(async (s, i) => {
      for (let n = 0; n < perSender; n++) {
        await s.send(`${i}:${n}`, `k${i}-${n}`);
        if (++acks === 120) {
          alive.delete(0);
          void stack.push(0).program.kill('SIGKILL');
        }
      }
    }));
    expect(senders.reduce((n, s) => n + s.reconnects, 0), 'clients that moved servers').to.be.greaterThan(0);
    const total = senders.length * perSender;
    await waitFor(async () => (await stored(stack, 'crash-load')).length === total || undefined, 'every message stored', 20_000);
    const all = await stored(stack, 'crash-load');
    expect(all.map((m) => m.seq)).to.deep.equal(range(total));
    const ids = all.map((m) => m.id);
    expect(new Set(ids).size).to.equal(total);
    for (const s of senders) for (const id of s.acked) expect(ids).to.include(id);
    for (let i = 0; i < senders.length; i++) {
      const order = all.filter((m) => m.author === `crasher-${i}`).map((m) => Number(m.text.split(':')[1]));
      expect(order, `order of crasher-${i}`).to.deep.equal(Array.from({ length: perSender }, (_, n) => n));
    }
    for (const s of senders) {
      await waitFor(() => s.received.length === total || undefined, `${s.user} to see every message`);
      expect(s.received.map((m) => m.seq)).to.deep.equal(range(total));
    }
    await Promise.all(senders.map((s) => s.close()));
  });
});
