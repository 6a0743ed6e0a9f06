/**
 * Graceful drain (SIGTERM) of a push server and of a worker in the middle of a load: clients move
 * to the other push server and resend what was not acknowledged; nothing acknowledged is lost,
 * nothing is stored twice, and the stored sequence stays gap-free.
 */
import { expect } from 'chai';
import { expectExactlyOnceInOrder, runResilientLoad } from '../helpers/resilient-load.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';

describe('graceful drain during a load', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, env: { STALLED_INTERVAL_MS: '1000' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('loses nothing when a push server and a worker get SIGTERM mid-run', async function () {
    const watcher = await stack.connect(1, 'drain-watcher');
    await watcher.join('drain');
    const seen = collect(watcher, 'drain');
    const alive = new Set([0, 1]);
    let push0Exit: Promise<number | null> | undefined;
    let worker0Exit: Promise<number | null> | undefined;
    const load = await runResilientLoad(stack, {
      channel: 'drain', senders: 6, perSender: 80, alive,
      onAck: (n) => {
        if (n !== 150) return;
        push0Exit = stack.push(0).program.kill('SIGTERM');
        worker0Exit = stack.workers[0]?.kill('SIGTERM');
        alive.delete(0);
      },
    });
    expect(await push0Exit, 'push server exit code').to.equal(0);
    expect(await worker0Exit, 'worker exit code').to.equal(0);
    expect(stack.push(0).program.logs.some((l) => l.msg === 'stopped')).to.equal(true);
    await expectExactlyOnceInOrder(stack, 'drain', load);
    await waitForCount(seen, load.total, 'every message at the watcher', 30_000);
    // The drained server left routing at once.
    expect(await stack.redis.client().zscore('chat:push-servers', stack.push(0).serverId)).to.equal(null);
  });
});
