/**
 * Cut off from Redis by a network that stops answering without closing anything (a black hole,
 * through a real TCP proxy): the cut-off push server says 503 on /ready, refuses sends at once,
 * and after REDIS_CUTOFF_MS closes its connections with 1013 so that clients move to the healthy
 * push server; nothing acknowledged is lost or doubled, and it serves again once the network heals.
 * A cut-off worker's partition goes to the standby; with everything cut off, upgrades are refused
 * with 503 until the heal, and the clients' resends then store everything once.
 */
import { expect } from 'chai';
import { PushServerProcess, startWorker } from '../helpers/programs.js';
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
    // Just started: every one of its Redis connections must be up first.
    await waitFor(async () => (await ready()) === 200 || undefined, 'the proxied push server to be ready');
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

const BLACKHOLE_MS = 15_000;

/** A stack and a TCP proxy to its Redis for one describe block, both stopped after it (the proxy healed first). */
function stackBehindProxy(): { stack: Stack; proxy: TcpProxy } {
  const ctx = {} as { stack: Stack; proxy: TcpProxy };
  after(async function () {
    ctx.proxy?.heal();
    await ctx.stack?.stop();
    await ctx.proxy?.stop();
  });
  return ctx;
}

/** Stored seq of a channel (0 when none). */
async function storedSeq(stack: Stack, channel: string): Promise<number> {
  return Number(await stack.redis.client().get(`chat:ch:{${channel}}:seq`));
}

describe('a worker cut off from Redis (black-holed network)', function () {
  const ctx = stackBehindProxy();

  it('stops being counted on: the standby takes its partition, nothing is lost or doubled, and it rejoins as a standby after the heal', async function () {
    this.timeout(90_000);
    const stack = ctx.stack = await Stack.start({ pushServers: 2, workers: 0, env: { REDIS_CUTOFF_MS: String(CUTOFF_MS), STALLED_INTERVAL_MS: '1000' } });
    const proxy = ctx.proxy = await TcpProxy.start(stack.redis.port);
    // The owner reaches Redis only through the proxy: it starts first and takes partition 0.
    const cut = await startWorker({ ...stack.env, REDIS_URL: proxy.url, METRICS_PORT: '0' });
    stack.workers.push(cut);
    const standby = await startWorker(stack.env);
    stack.workers.push(standby);
    const { owner, id: cutId } = await stack.partitionOwner(0);
    expect(owner).to.equal(cut);
    const standbyId = String(standby.logs.find((l) => l.msg === 'worker ready')?.workerId);
    const metricsPort = Number(cut.logs.find((l) => l.msg === 'worker ready')?.metricsPort);
    const ready = async (): Promise<number> => (await fetch(`http://127.0.0.1:${metricsPort}/ready`)).status;
    await waitFor(async () => (await ready()) === 200 || undefined, 'the proxied worker to be ready');

    let healed = false;
    let afterHeal = 0;
    let blackholedAt = 0;
    let seqAtBlackhole = 0;
    const timings = { takeover: 0, storedAgain: 0, readyGone: 0 };
    const fault = (async () => {
      await waitFor(async () => (await storedSeq(stack, 'wcut')) >= 60 || undefined, '60 messages stored before the fault');
      seqAtBlackhole = await storedSeq(stack, 'wcut');
      proxy.blackhole();
      blackholedAt = Date.now();
      timings.readyGone = await waitFor(async () => ((await ready()) === 503 ? Date.now() - blackholedAt : undefined), 'the cut worker\'s /ready to say 503', CUTOFF_MS);
      timings.takeover = await waitFor(async () => ((await stack.redis.client().get('{chat:q0}:owner')) === standbyId ? Date.now() - blackholedAt : undefined),
        'the standby to take the lease', 10_000, 20);
      timings.storedAgain = await waitFor(async () => ((await storedSeq(stack, 'wcut')) > seqAtBlackhole + 5 ? Date.now() - blackholedAt : undefined),
        'messages stored again, by the standby', 15_000, 20);
      await cut.waitForLog((l) => /^cut off from Redis/.test(String(l.msg)), 'the worker to say it is cut off', BLACKHOLE_MS);
      await waitFor(() => Date.now() - blackholedAt >= BLACKHOLE_MS || undefined, 'the end of the black hole', BLACKHOLE_MS + 1000, 100);
      proxy.heal();
      healed = true;
    })();
    const load = await runResilientLoad(() => [stack.push(0).url, stack.push(1).url], {
      channel: 'wcut', senders: 6, perSender: 100_000, paceMs: 40,
      until: () => healed && ++afterHeal > 60,
    });
    await fault;
    await expectExactlyOnceInOrder(stack.redis.client(), 'wcut', load, false);
    // Healed: the old owner learns it lost the lease, stays a standby, and answers /ready 200.
    await cut.waitForLog((l) => l.msg === 'lost the lease of a partition', 'the healed worker to notice it lost its lease');
    await waitFor(async () => (await ready()) === 200 || undefined, 'the healed worker\'s /ready 200');
    expect(await stack.redis.client().get('{chat:q0}:owner')).to.equal(standbyId);
    expect(cut.running).to.equal(true);
    expect(cut.stderr, 'nothing raw on stderr').to.deep.equal([]);
    expect(cut.logs.filter((l) => l.msg === 'worker error').length, 'worker errors logged').to.be.at.most(2);
    expect(cutId).to.not.equal(standbyId);
    console.log(`      /ready 503 after ${timings.readyGone} ms; standby took the lease after ${timings.takeover} ms; stored again after ${timings.storedAgain} ms of a ${BLACKHOLE_MS} ms black hole; ${load.total} messages, 0 lost, 0 doubled`);
  });
});

describe('everything cut off from Redis (black-holed network)', function () {
  const ctx = stackBehindProxy();

  it('refuses with 503 while cut off, loses nothing acknowledged, and serves within seconds of the heal', async function () {
    this.timeout(90_000);
    const stack = ctx.stack = await Stack.start({ pushServers: 0, workers: 0, env: { REDIS_CUTOFF_MS: String(CUTOFF_MS), STALLED_INTERVAL_MS: '1000' } });
    const proxy = ctx.proxy = await TcpProxy.start(stack.redis.port);
    const env = { ...stack.env, REDIS_URL: proxy.url };
    stack.pushServers.push(...await Promise.all([PushServerProcess.start(env), PushServerProcess.start(env)]));
    stack.workers.push(await startWorker(env));
    const statuses = async (): Promise<number[]> => Promise.all(stack.pushServers.map(async (p) => (await fetch(`${p.httpUrl}/ready`)).status));

    let healed = false;
    let healedAt = 0;
    let afterHeal = 0;
    const timings = { readyGone: 0, refusedUpgrade: 0, storedAgain: 0 };
    const fault = (async () => {
      await waitFor(async () => (await storedSeq(stack, 'allcut')) >= 60 || undefined, '60 messages stored before the fault');
      proxy.blackhole();
      const blackholedAt = Date.now();
      timings.readyGone = await waitFor(async () => ((await statuses()).every((s) => s === 503) ? Date.now() - blackholedAt : undefined),
        'both push servers\' /ready to say 503', CUTOFF_MS);
      await Promise.all(stack.pushServers.map((p) => p.program.waitForLog((l) => /^cut off from Redis/.test(String(l.msg)), 'the cut-off', CUTOFF_MS + 5000)));
      // While cut off, an upgrade is refused at once with a reason, not left to time out.
      const refused = await tryConnect(`${stack.push(0).url}/ws?user=during`);
      expect(refused.opened).to.equal(false);
      if (!refused.opened) {
        expect(refused.status).to.equal(503);
        expect(refused.body).to.match(/cut off from Redis/);
      }
      await waitFor(() => Date.now() - blackholedAt >= BLACKHOLE_MS || undefined, 'the end of the black hole', BLACKHOLE_MS + 1000, 100);
      const seqAtHeal = await stack.redis.client().get('chat:ch:{allcut}:seq');
      proxy.heal();
      healedAt = Date.now();
      healed = true;
      timings.storedAgain = await waitFor(async () => ((await storedSeq(stack, 'allcut')) > Number(seqAtHeal) + 5 ? Date.now() - healedAt : undefined),
        'messages stored again after the heal', 20_000, 20);
    })();
    const load = await runResilientLoad(() => stack.pushServers.map((p) => p.url), {
      channel: 'allcut', senders: 6, perSender: 100_000, paceMs: 40,
      until: () => healed && ++afterHeal > 60,
    });
    await fault;
    await expectExactlyOnceInOrder(stack.redis.client(), 'allcut', load);
    expect(await statuses()).to.deep.equal([200, 200]);
    const codes = load.senders.flatMap((s) => s.closeCodes);
    expect(codes, 'close codes the senders saw').to.deep.equal([1013, 1013, 1013, 1013, 1013, 1013]);
    const back = Math.max(...load.senders.map((s) => s.connectedAt)) - healedAt;
    console.log(`      /ready 503 on both after ${timings.readyGone} ms; upgrades refused with 503 while cut off; after the heal: messages stored again in ${timings.storedAgain} ms, last client back in ${back} ms; ${load.total} messages, 0 lost, 0 doubled`);
  });
});
