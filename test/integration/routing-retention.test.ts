/**
 * Routing liveness and retention through the real programs.
 */
import { expect } from 'chai';
import type { MessageFrame } from '@chat/shared';
import { Stack, collect, waitForCount, TEST_ENV } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

describe('routing: a killed push server drops out', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 1 });
  });
  after(async function () {
    await stack?.stop();
  });

  it('removes a kill -9ed push server from routing within 3 heartbeats; the other keeps delivering', async function () {
    const heartbeat = Number(TEST_ENV.HEARTBEAT_MS);
    const doomed = await stack.connect(0, 'doomed');
    const survivor = await stack.connect(1, 'survivor');
    await doomed.join('crash');
    await survivor.join('crash');
    const redis = stack.redis.client();
    const routesKey = 'chat:ch:{crash}:routes';
    const deadId = stack.push(0).serverId;
    expect((await redis.zrange(routesKey, '0', '-1')).sort()).to.deep.equal([stack.push(0).serverId, stack.push(1).serverId].sort());

    await stack.push(0).program.kill('SIGKILL');
    const redisNow = async (): Promise<number> => {
      const [s, us] = (await redis.time()) as unknown as [string, string];
      return Number(s) * 1000 + Math.floor(Number(us) / 1000);
    };
    const killedAt = await redisNow();
    const expiry = Number(await redis.zscore(routesKey, deadId));
    expect(expiry - killedAt, 'route lifetime left at the kill').to.be.at.most(3 * heartbeat);
    await waitFor(async () => (await redisNow()) > expiry, 'the dead route to expire', 10 * heartbeat);

    const got = collect(survivor, 'crash');
    await survivor.send('crash', 'still here');
    await waitForCount(got, 1, 'delivery on the surviving server');
    expect(got[0]).to.include({ text: 'still here', seq: 1 });
    // The worker's step deleted the dead route when it routed the message.
    expect(await redis.zrange(routesKey, '0', '-1')).to.deep.equal([stack.push(1).serverId]);
    // Its member counts vanish from /channels too, and its keys expire.
    await waitFor(async () => {
      const body = (await (await fetch(`${stack.push(1).httpUrl}/channels`)).json()) as { channels: { name: string; members: number }[] };
      return body.channels.find((c) => c.name === 'crash')?.members === 1;
    }, '/channels to count only the live server');
    await waitFor(async () => (await redis.exists(`chat:push-server:${deadId}:channels`)) === 0, 'the dead server\'s keys to expire');
    await waitFor(async () => (await redis.zscore('chat:push-servers', deadId)) === null, 'the live server to remove the dead one from the server list');
  });
});

for (const mode of ['one Redis', 'a 3-master Redis Cluster'] as const) describe(`retention on ${mode}: messages age out, seq never goes back`, function () {
  let stack: Stack;
  const retentionMs = 1500;
  before(async function () {
    stack = await Stack.start({
      pushServers: 1, workers: 1, env: { RETENTION_MS: String(retentionMs) }, ...(mode === 'one Redis' ? {} : { cluster: { masters: 3 } }),
    });
  });
  after(async function () {
    await stack?.stop();
  });

  it('removes messages past RETENTION_MS, gives the channel keys an expiry, and keeps seq rising for connected members', async function () {
    const c = await stack.connect(0, 'keeper');
    await c.join('fleeting');
    const got = collect(c, 'fleeting');
    for (let i = 1; i <= 3; i++) await c.send('fleeting', `m${i}`);
    await waitForCount(got, 3, 'the three messages');
    const redis = stack.redis.client();
    for (const key of ['msgs', 'ids', 'seq']) {
      const ttl = await redis.pttl(`chat:ch:{fleeting}:${key}`);
      expect(ttl, key).to.be.within(1, retentionMs);
    }
    const last = got[2] as MessageFrame;
    await waitFor(async () => {
      const body = (await (await fetch(`${stack.push(0).httpUrl}/channels/fleeting/messages`)).json()) as { messages: unknown[] };
      return body.messages.length === 0;
    }, 'the messages to age out', 4 * retentionMs);
    expect(Date.now()).to.be.at.least(last.timestamp + retentionMs - 50);
    await waitFor(async () => (await redis.exists('chat:ch:{fleeting}:msgs')) === 0, 'the message key to expire', 4 * retentionMs);
    // Wait past a full retention with no message at all: the member's presence keeps seq alive.
    const idleSince = Date.now();
    await waitFor(() => Date.now() - idleSince > retentionMs + 300 || undefined, 'an idle retention period', 3 * retentionMs, 100);
    expect(await redis.exists('chat:ch:{fleeting}:seq')).to.equal(1);
    await c.send('fleeting', 'm4');
    await waitForCount(got, 4, 'the fourth message');
    expect(got[3]).to.include({ seq: 4, text: 'm4' });
    const late = await stack.connect(0, 'late');
    const history = await late.join('fleeting', 1);
    expect(history.messages.map((m) => m.seq)).to.deep.equal([4]);
    expect(history.complete).to.equal(false);
  });
});

describe('a retention shorter than the heartbeat: RETENTION_MS=4000, HEARTBEAT_MS=5000 (the default)', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 1, workers: 1, env: { RETENTION_MS: '4000', HEARTBEAT_MS: '5000' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('keeps the seq counter alive under a connected member, so the next message is seq 2 and delivered', async function () {
    this.timeout(40_000);
    const redis = stack.redis.client();
    const c = await stack.connect(0, 'brief-member');
    await c.join('brief');
    const got = collect(c, 'brief');
    await c.send('brief', 'first', 'b1');
    await waitForCount(got, 1, 'the first message');
    // The counter outlives the route (2.5 heartbeats), not just the 4 s retention.
    expect(await redis.pttl('chat:ch:{brief}:seq'), 'seq counter ttl (ms)').to.be.above(4000);
    // Two heartbeats later the message has aged out and, with a 4 s expiry renewed every 5 s,
    // the counter would have lapsed at least once.
    const info = `chat:push-server:${stack.push(0).serverId}:info`;
    const beats = new Set<string>();
    await waitFor(async () => { beats.add(String(await redis.hget(info, 'heartbeatAt'))); return beats.size >= 3 || undefined; },
      'two more heartbeats of the push server', 20_000, 100);
    await waitFor(async () => (await redis.exists('chat:ch:{brief}:msgs')) === 0 || undefined, 'the first message to age out', 10_000);
    expect(await redis.get('chat:ch:{brief}:seq'), 'the counter is still there').to.equal('1');
    await c.send('brief', 'second', 'b2');
    await waitForCount(got, 2, 'the second message, live');
    expect(got.map((m) => m.seq)).to.deep.equal([1, 2]);
  });
});
