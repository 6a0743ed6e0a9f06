/**
 * Cut off from Redis by a network that stops answering without closing anything (a black hole,
 * through a real TCP proxy): the cut-off push server says 503 on /ready, refuses sends at once,
 * and after REDIS_CUTOFF_MS closes its connections with 1013 so that clients move to the healthy
 * push server; nothing acknowledged is lost or doubled, and it serves again once the network heals.
 */
import { expect } from 'chai';
import { PushServerProcess } from '../helpers/programs.js';
import { tryConnect } from '../helpers/raw-ws.js';
import { expectExactlyOnceInOrder, runResilientLoad } from '../helpers/resilient-load.js';
import { Stack } from '../helpers/stack.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { waitFor } from '../helpers/wait.js';

const CUTOFF_MS = 3000;

describe('a push server cut off from Redis (black-holed network)', function () {
  let stack: Stack;
  let proxy: TcpProxy;
  before(async function () {
    stack = await Stack.start({ pushServers: 1, workers: 1, env: { REDIS_CUTOFF_MS: String(CUTOFF_MS) } });
    proxy = await TcpProxy.start(stack.redis.port);
    // The second push server reaches Redis only through the proxy.
    stack.pushServers.push(await PushServerProcess.start({ ...stack.env, REDIS_URL: proxy.url }));
  });
  after(async function () {
    proxy?.heal();
    await stack?.stop();
    await proxy?.stop();
  });

  it('says 503, closes its clients with 1013 after REDIS_CUTOFF_MS, loses nothing, and serves again after the heal', async function () {
    this.timeout(60_000);
    const cut = stack.push(1);
    const ready = async (): Promise<number> => (await fetch(`${cut.httpUrl}/ready`)).status;
    expect(await ready()).to.equal(200);
    let blackholedAt = 0;
    let readyGone = 0;
    let healedAt = 0;
    const load = await runResilientLoad(() => [cut.url, stack.push(0).url], {
      channel: 'cutoff', senders: 6, perSender: 80, paceMs: 40,
      onAck: (n) => {
        if (n !== 60) return;
        proxy.blackhole();
        blackholedAt = Date.now();
        void waitFor(async () => ((await ready()) === 503 ? Date.now() : undefined), '/ready to say 503', CUTOFF_MS)
          .then((t) => { readyGone = t - blackholedAt; });
        void cut.program.waitForLog((l) => /^cut off from Redis/.test(String(l.msg)), 'the cut-off', CUTOFF_MS + 5000)
          .then(() => { setTimeout(() => { proxy.heal(); healedAt = Date.now(); }, 5000); });
      },
    });
    expect(readyGone, 'ms from the black hole to /ready 503').to.be.within(1, 2500);
    const cutLog = cut.program.logs.find((l) => /^cut off from Redis/.test(String(l.msg)));
    expect(Number(cutLog?.silentMs), 'ms without an answer at the cut-off').to.be.within(CUTOFF_MS, CUTOFF_MS + 1500);
    await expectExactlyOnceInOrder(stack.redis.client(), 'cutoff', load);
    // Healed: the push server answers /ready 200 again and takes connections.
    await waitFor(async () => (await ready()) === 200 || undefined, '/ready 200 after the heal', 10_000);
    const fresh = await tryConnect(`${cut.url}/ws?user=after-heal`);
    expect(fresh.opened, 'a connection after the heal').to.equal(true);
    if (fresh.opened) fresh.ws.close();
    // The senders that started on the cut-off server (every other one) were closed with 1013.
    const codes = load.senders.flatMap((s) => s.closeCodes);
    expect(codes, 'close codes the senders saw').to.deep.equal([1013, 1013, 1013]);
    const reconnects = load.senders.reduce((n, s) => n + s.reconnects, 0);
    console.log(`      /ready 503 after ${readyGone} ms of black hole; clients moved: ${reconnects}; ready again ${healedAt ? Date.now() - healedAt : -1} ms after the heal (with a new connection); ${load.total} messages, 0 lost, 0 doubled`);
  });
});
