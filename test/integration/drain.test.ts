/**
 * Graceful drain (SIGTERM) of a push server and of a worker in the middle of a load: clients move
 * to the other push server and resend what was not acknowledged; nothing acknowledged is lost,
 * nothing is stored twice, and the stored sequence stays gap-free.
 */
import { expect } from 'chai';
import { ChannelStore, RedisKeys, type MessageFrame } from '@chat/shared';
import { ResilientSender } from '../helpers/resilient-sender.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

describe('graceful drain during a load', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, env: { STALLED_INTERVAL_MS: '1000' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('loses nothing when a push server and a worker get SIGTERM mid-run', async function () {
    const alive = new Set([0, 1]);
    const urls = (): string[] => [...alive].map((i) => stack.push(i).url);
    const senders = Array.from({ length: 6 }, (_, i) => new ResilientSender(() => {
      const list = urls();
      return [...list.slice(i % list.length), ...list.slice(0, i % list.length)];
    }, `drainer-${i}`, 'drain'));
    await Promise.all(senders.map((s) => s.connect()));
    const watcher = await stack.connect(1, 'drain-watcher');
    await watcher.join('drain');
    const seen = collect(watcher, 'drain');

    const perSender = 80;
    let acks = 0;
    let push0Exit: Promise<number | null> | undefined;
    let worker0Exit: Promise<number | null> | undefined;
    await Promise.all(senders.map(async (s, i) => {
      for (let n = 0; n < perSender; n++) {
        await s.send(`${i}:${n}`, `d${i}-${n}`);
        if (++acks === 150) {
          push0Exit = stack.push(0).program.kill('SIGTERM');
          worker0Exit = stack.workers[0]?.kill('SIGTERM');
          alive.delete(0);
        }
      }
    }));
    expect(await push0Exit, 'push server exit code').to.equal(0);
    expect(await worker0Exit, 'worker exit code').to.equal(0);
    expect(stack.push(0).program.logs.some((l) => l.msg === 'stopped')).to.equal(true);
    expect(senders.reduce((n, s) => n + s.reconnects, 0), 'clients that moved servers').to.be.greaterThan(0);

    const total = senders.length * perSender;
    await waitForCount(seen, total, 'every message at the watcher', 30_000);
    const redis = stack.redis.client();
    const store = new ChannelStore(redis, new RedisKeys('chat'), 86_400_000);
    const stored = (await store.read('drain', { since: 0 })).frames.map((f) => JSON.parse(f) as MessageFrame);
    expect(stored.map((m) => m.seq)).to.deep.equal(Array.from({ length: total }, (_, k) => k + 1));
    const ids = stored.map((m) => m.id);
    expect(new Set(ids).size).to.equal(total);
    for (const s of senders) for (const id of s.acked) expect(ids).to.include(id);
    for (let i = 0; i < senders.length; i++) {
      const order = stored.filter((m) => m.author === `drainer-${i}`).map((m) => Number(m.text.split(':')[1]));
      expect(order, `order of drainer-${i}`).to.deep.equal(Array.from({ length: perSender }, (_, n) => n));
    }
    // Every sender, whichever server it ended on, saw the same stored sequence.
    for (const s of senders) {
      await waitFor(() => s.received.length === total || undefined, `${s.user} to see every message`);
      expect(s.received.map((m) => m.seq)).to.deep.equal(Array.from({ length: total }, (_, k) => k + 1));
    }
    await Promise.all(senders.map((s) => s.close()));
    // The drained server left routing at once.
    expect(await redis.zscore('chat:push-servers', stack.push(0).serverId)).to.equal(null);
  });
});
