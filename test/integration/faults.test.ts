/**
 * Crashes and outages, done for real: Redis killed and restarted with AOF (with nothing in
 * flight, and with every acknowledged message still queued), a push server killed -9 during a
 * load. After each, every acknowledged message is stored exactly once, the channel's seq is
 * gap-free, and every member that resumed with `since` has exactly the stored sequence.
 */
import { expect } from 'chai';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ChatClient, ChatError, MessageFrame } from '@chat/shared';
import { startWorker } from '../helpers/programs.js';
import { expectExactlyOnceInOrder, runResilientLoad, stackUrls, storedMessages } from '../helpers/resilient-load.js';
import { Stack, collect, expectEachLiveWithin, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { gapFillDeliveries } from '../helpers/metrics.js';

const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k + 1);
const clients = new WeakMap<Stack, Redis>();
/** The stored messages of a channel, through one assertion client per stack. */
function stored(stack: Stack, channel: string): Promise<MessageFrame[]> {
  let redis = clients.get(stack);
  if (!redis) { redis = stack.redis.client(); clients.set(stack, redis); }
  return storedMessages(redis, channel);
}

async function readyAgain(stack: Stack): Promise<void> {
  for (const p of stack.pushServers) {
    await waitFor(async () => (await fetch(`${p.httpUrl}/ready`)).status === 200 || undefined, `${p.serverId} to be ready again`, 20_000);
  }
}

describe('Redis stopped and restarted with AOF', function () {
  const HEARTBEAT_MS = 1000;
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({
      pushServers: 2, workers: 2, redis: { appendOnly: true }, env: { STALLED_INTERVAL_MS: '1000', HEARTBEAT_MS: String(HEARTBEAT_MS) },
    });
  });
  after(async function () {
    await stack?.stop();
  });

  it('keeps every acked message, refuses sends while Redis is away, and resumes live delivery within a heartbeat', async function () {
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
    await readyAgain(stack);
    const kept = await stored(stack, 'outage');
    expect(kept.map((m) => m.id)).to.deep.equal(Array.from({ length: 20 }, (_, i) => `o-${i}`));

    await waitFor(() => a.send('outage', 'while away', 'o-away').then(() => true, () => false), 'the retry to be accepted', 20_000);
    await waitForCount(atB, 21, 'the retried message');
    // The whole path is back (the retry went through a worker). Live delivery is through pub/sub
    // again: each message arrives within one heartbeat of its ack, and not one had to be read
    // from the store (the heartbeat gap check would take one to two heartbeats).
    const fillsBefore = await gapFillDeliveries(stack.pushServers);
    await expectEachLiveWithin(a, 'outage', atB, Array.from({ length: 20 }, (_, k) => ({ text: `m${k + 20}`, id: `o-${k + 20}` })), HEARTBEAT_MS);
    expect(await gapFillDeliveries(stack.pushServers) - fillsBefore, 'deliveries read from the store after Redis returned').to.equal(0);
    expect(await gapFillDeliveries(stack.pushServers), 'deliveries read from the store in the whole test').to.equal(0);
    expect(atB.map((m) => m.seq)).to.deep.equal(range(41));
    const all = await stored(stack, 'outage');
    expect(all.map((m) => m.seq)).to.deep.equal(range(41));
    expect(new Set(all.map((m) => m.id)).size).to.equal(41);
    expect((await b.presence('outage')).users).to.deep.equal(['after', 'before']);
  });
});

for (const fsync of ['always', 'everysec'] as const) describe(`Redis killed -9 with acknowledged messages still queued (appendfsync ${fsync})`, function () {
  let stack: Stack;
  before(async function () {
    // No workers: everything acknowledged is still in the queue when Redis dies.
    stack = await Stack.start({ pushServers: 2, workers: 0, redis: { appendOnly: true, fsync }, env: { STALLED_INTERVAL_MS: '1000' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('stores every message that was in the AOF exactly once, in order, and delivers it', async function () {
    const senders = [await stack.connect(0, 'inflight-a'), await stack.connect(1, 'inflight-b')];
    const readers = [await stack.connect(0, 'reader-a'), await stack.connect(1, 'reader-b')];
    for (const c of [...senders, ...readers]) await c.join('inflight');
    const got = readers.map((r) => collect(r, 'inflight'));
    const perSender = 150;
    const acked: string[][] = [[], []];
    await Promise.all(senders.map(async (s: ChatClient, i) => {
      for (let n = 0; n < perSender; n++) {
        await s.send('inflight', `${i}:${n}`, `if-${i}-${n}`);
        (acked[i] as string[]).push(`if-${i}-${n}`);
      }
    }));
    // SIGKILL right after the last ack: nothing has been stored yet, it is all in the queue.
    await stack.redis.kill();
    await stack.redis.launch();
    await readyAgain(stack);
    stack.workers.push(await startWorker(stack.env), await startWorker(stack.env));

    const queue = new Queue('inbound-0', { connection: stack.redis.client(), prefix: '{chat:q0}' });
    const keptPer = await waitFor(async () => {
      const counts = await queue.getJobCounts();
      const pending = Object.entries(counts).filter(([state]) => state !== 'completed' && state !== 'failed').reduce((n, [, c]) => n + c, 0);
      return pending === 0 && counts.failed === 0 ? stored(stack, 'inflight') : undefined;
    }, 'the queue to drain', 30_000);
    await queue.close();
    const total = keptPer.length;
    const lost = 2 * perSender - total;
    if (fsync === 'always') expect(lost, 'acknowledged messages lost with appendfsync always').to.equal(0);
    expect(keptPer.map((m) => m.seq)).to.deep.equal(range(total));
    expect(new Set(keptPer.map((m) => m.id)).size, 'each id stored once').to.equal(total);
    for (const [i, ids] of acked.entries()) {
      // The AOF is written in order: what a sender kept is a prefix of what it had acknowledged.
      const mine = keptPer.filter((m) => m.author === `inflight-${i === 0 ? 'a' : 'b'}`).map((m) => m.id);
      expect(mine, `what inflight-${i} kept`).to.deep.equal(ids.slice(0, mine.length));
    }
    for (const [i, list] of got.entries()) {
      await waitForCount(list, total, `every kept message at reader ${i}`, 20_000);
      await readers[i]?.ping();
      expect(list.map((m: MessageFrame) => m.seq), `seqs at reader ${i}`).to.deep.equal(range(total));
    }
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
    const load = await runResilientLoad(stackUrls(stack, alive), {
      channel: 'crash-load', senders: 6, perSender: 60,
      onAck: (n) => {
        if (n !== 120) return;
        alive.delete(0);
        void stack.push(0).program.kill('SIGKILL');
      },
    });
    await expectExactlyOnceInOrder(stack.redis.client(), 'crash-load', load);
  });
});
