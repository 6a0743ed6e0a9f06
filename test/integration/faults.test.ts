/**
 * Crashes and outages, done for real: Redis killed and restarted with AOF, a push server killed
 * -9 during a load. After each, every acknowledged message is stored exactly once, the channel's
 * seq is gap-free, and every member that resumed with `since` has exactly the stored sequence.
 */
import { expect } from 'chai';
import type { ChatError } from '@chat/shared';
import { expectExactlyOnceInOrder, runResilientLoad, storedMessages as stored } from '../helpers/resilient-load.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

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
    const load = await runResilientLoad(stack, {
      channel: 'crash-load', senders: 6, perSender: 60, alive,
      onAck: (n) => {
        if (n !== 120) return;
        alive.delete(0);
        void stack.push(0).program.kill('SIGKILL');
      },
    });
    await expectExactlyOnceInOrder(stack, 'crash-load', load);
  });
});
