/**
 * Redis Cluster failover: the master holding a channel is killed and its replica promoted. Every
 * acknowledged message that reached the replica is still there, and the pipeline resumes with
 * the channel's seq continuing without a gap.
 */
import { expect } from 'chai';
import { ChannelStore, RedisKeys, type MessageFrame } from '@chat/shared';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { gapFillDeliveries } from '../helpers/metrics.js';

const HEARTBEAT_MS = 1000;

describe('Redis Cluster: a master killed, its replica promoted', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({
      pushServers: 2, workers: 2, cluster: { masters: 3, replicasPerMaster: 1 },
      env: { STALLED_INTERVAL_MS: '1000', HEARTBEAT_MS: String(HEARTBEAT_MS) },
    });
  });
  after(async function () {
    await stack?.stop();
  });

  it('loses no acknowledged message that reached the replica, and resumes', async function () {
    this.timeout(120_000);
    const cluster = stack.cluster!;
    const a = await stack.connect(0, 'before-failover');
    const b = await stack.connect(1, 'after-failover');
    await a.join('failover');
    await b.join('failover');
    const atB = collect(b, 'failover');
    for (let i = 0; i < 20; i++) await a.send('failover', `m${i}`, `fo-${i}`);
    await waitForCount(atB, 20, 'the first 20 messages');

    const keys = new RedisKeys('chat');
    const client = cluster.client();
    // Make sure the replica has everything written so far (what "reached the replica" means).
    const masterPort = await cluster.masterOf(keys.channelMessages('failover'));
    const node = client.nodes('master').find((n) => n.options.port === masterPort);
    expect(Number(await node?.call('WAIT', '1', '5000'))).to.equal(1);
    await cluster.kill(masterPort);

    await waitFor(async () => (await cluster.masterOf(keys.channelMessages('failover'))) !== masterPort || undefined,
      'a replica to take over the channel\'s slot', 30_000, 200);
    // Right after the failover the push servers' shard subscriptions move to the new master
    // (the slot map refreshes every second), and a message published meanwhile is filled from
    // the store. Probe until one arrives through pub/sub alone: a resubscription that never
    // happens (delivery only through the gap check) fails here.
    let next = 20;
    const sendNext = async (): Promise<void> => {
      await waitFor(() => a.send('failover', `m${next}`, `fo-${next}`).then(() => true, () => false), `message ${next} to be accepted`, 30_000, 200);
      next++;
      await waitForCount(atB, next, `message ${next - 1} at b`, 30_000);
    };
    const probes = await waitFor(async () => {
      const fills = await gapFillDeliveries(stack.pushServers);
      await sendNext();
      return (await gapFillDeliveries(stack.pushServers)) === fills ? next - 20 : undefined;
    }, 'a message delivered through pub/sub alone after the failover', 20_000, 1);
    console.log(`      after the failover: ${probes} probe message(s) until delivery was through pub/sub alone`);
    // Then the rest arrive, in order, once each. (Not asserted: each within one heartbeat. Under
    // CPU load the shard subscription was seen to drop once more after the first pub/sub
    // delivery while ioredis settled its slot map, and the gap check filled that message.)
    for (let i = 0; i < 9; i++) await sendNext();
    expect(atB.map((m) => m.seq)).to.deep.equal(Array.from({ length: next }, (_, k) => k + 1));
    const store = new ChannelStore(cluster.client(), keys, 86_400_000);
    const stored = (await store.read('failover', { since: 0 })).frames.map((f) => JSON.parse(f) as MessageFrame);
    expect(stored.map((m) => m.id)).to.deep.equal(Array.from({ length: next }, (_, i) => `fo-${i}`));
  });
});
