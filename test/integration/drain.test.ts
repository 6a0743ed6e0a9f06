/**
 * Graceful drain (SIGTERM) of a push server and of the consuming worker in the middle of a load:
 * clients move to the other push server and resend what was not acknowledged; nothing
 * acknowledged is lost, nothing is stored twice, and the stored sequence stays gap-free. And what
 * a client and a load balancer see during a drain: `/ready` 503, upgrades refused with 503, the
 * ack of a message received before the drain, then close 1001.
 */
import { expect } from 'chai';
import { tryConnect } from '../helpers/raw-ws.js';
import { expectExactlyOnceInOrder, runResilientLoad, stackUrls } from '../helpers/resilient-load.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const HEARTBEAT_MS = 1000;

describe('graceful drain during a load', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 2, env: { STALLED_INTERVAL_MS: '1000', HEARTBEAT_MS: String(HEARTBEAT_MS) } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('loses nothing when a push server and the consuming worker get SIGTERM mid-run', async function () {
    const redis = stack.redis.client();
    const watcher = await stack.connect(1, 'drain-watcher');
    await watcher.join('drain');
    const seen = collect(watcher, 'drain');
    const { owner } = await stack.partitionOwner(0);
    const alive = new Set([0, 1]);
    let push0Exit: Promise<number | null> | undefined;
    let workerExit: Promise<number | null> | undefined;
    let leftRouting: Promise<number> | undefined;
    const load = await runResilientLoad(stackUrls(stack, alive), {
      channel: 'drain', senders: 6, perSender: 80,
      onAck: (n) => {
        if (n !== 150) return;
        const signalled = Date.now();
        push0Exit = stack.push(0).program.kill('SIGTERM');
        workerExit = owner.kill('SIGTERM');
        alive.delete(0);
        // Routes expire 2.5 heartbeats after the last renewal; a drained server removes its own
        // at once, well inside one heartbeat.
        leftRouting = waitFor(async () => {
          const [registry, route] = await Promise.all([
            redis.zscore('chat:push-servers', stack.push(0).serverId),
            redis.zscore('chat:ch:{drain}:routes', stack.push(0).serverId),
          ]);
          return registry === null && route === null ? Date.now() - signalled : undefined;
        }, 'the drained push server to leave routing', HEARTBEAT_MS - 200, 5);
      },
    });
    expect(await leftRouting, 'ms from SIGTERM until the push server left routing').to.be.below(HEARTBEAT_MS);
    expect(await push0Exit, 'push server exit code').to.equal(0);
    expect(await workerExit, 'worker exit code').to.equal(0);
    expect(stack.push(0).program.logs.some((l) => l.msg === 'stopped')).to.equal(true);
    await expectExactlyOnceInOrder(redis, 'drain', load);
    await waitForCount(seen, load.total, 'every message at the watcher', 30_000);
  });
});

describe('what a client and a load balancer see during a drain', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 1, workers: 1 });
  });
  after(async function () {
    stack?.redis.resume();
    await stack?.stop();
  });

  it('answers /ready 503 and refuses upgrades while draining, acks what it received, then closes with 1001', async function () {
    const push = stack.push(0);
    const client = await stack.connect(0, 'drained');
    await client.join('drain-ack');
    const got = collect(client, 'drain-ack');
    expect((await fetch(`${push.httpUrl}/ready`)).status).to.equal(200);
    // With Redis frozen the message cannot reach the queue, so the drain has to wait for it.
    stack.redis.pause();
    const frames: string[] = [];
    client.on('frame', (f) => frames.push(f.type));
    const ack = client.send('drain-ack', 'in flight at the drain', 'da-1');
    await client.ping(); // the push server has read the message
    const closed = client.waitClosed().then((c) => { frames.push(`close ${c.code}`); return c; });
    const exited = push.program.kill('SIGTERM');
    // 503 for the drain itself, not because the frozen Redis stopped answering (that would say so).
    const ready = await waitFor(async () => {
      const res = await fetch(`${push.httpUrl}/ready`);
      return res.status === 503 ? await res.json() as { reason?: string } : undefined;
    }, '/ready to answer 503 during the drain');
    expect(ready.reason, 'why /ready is 503').to.equal('draining');
    const refused = await tryConnect(`${push.url}/ws?user=late`);
    expect(refused.opened ? 101 : refused.status, 'an upgrade during the drain').to.equal(503);
    if (!refused.opened) expect(refused.body).to.match(/draining/);
    expect(frames, 'nothing answered while the message is still on its way').to.deep.equal(['pong']);

    stack.redis.resume();
    expect(await ack).to.deep.equal({ type: 'ack', id: 'da-1', channel: 'drain-ack' });
    expect((await closed).code).to.equal(1001);
    expect(frames, 'the ack comes before the close').to.deep.equal(['pong', 'ack', 'close 1001']);
    expect(await exited, 'push server exit code').to.equal(0);
    // The acknowledged message is stored once (the member left with the drain, so read it back).
    await waitFor(async () => (await stack.redis.client().zcard('chat:ch:{drain-ack}:msgs')) === 1 || undefined, 'the drained message to be stored');
    expect(got).to.have.length(0);
  });
});
