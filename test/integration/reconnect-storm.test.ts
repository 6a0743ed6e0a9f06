/**
 * The reconnect storm: 3,000 clients from six client addresses in 300 channels, through nginx
 * in front of two push servers, while one member of each channel keeps sending. One push server
 * is killed -9: its half of the clients come back at once through nginx (backoff with jitter),
 * resume with `since` on the survivor, and every member of every channel ends with exactly the
 * stored sequence, each message once, in order. Prints the time until the last client is back
 * and Redis's load before and during the storm.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { Nginx } from '../helpers/nginx.js';
import { ResilientSender } from '../helpers/resilient-sender.js';
import { storedMessages } from '../helpers/resilient-load.js';
import { Stack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const CLIENTS = 3000;
const CHANNELS = 300;
const ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7'];
/** Each channel's sender sends this often: 300 channels make 200 messages/s, 2,000 deliveries/s. */
const SEND_EVERY_MS = 1500;

/** Redis's commands per second and CPU share, sampled every `everyMs` until stopped. */
class RedisLoad {
  readonly samples: Array<{ at: number; opsPerSec: number; cpu: number }> = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly redis: Redis, everyMs = 250) {
    this.done = (async () => {
      let last = await this.read();
      while (this.running) {
        await new Promise((r) => setTimeout(r, everyMs));
        const now = await this.read();
        const seconds = (now.at - last.at) / 1000;
        // One INFO per sample: subtract this sampler's own commands.
        this.samples.push({ at: now.at, opsPerSec: (now.commands - last.commands - 1) / seconds, cpu: (now.cpu - last.cpu) / seconds });
        last = now;
      }
    })();
  }

  private async read(): Promise<{ at: number; commands: number; cpu: number }> {
    const info = await this.redis.info();
    const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    return { at: Date.now(), commands: field('total_commands_processed'), cpu: field('used_cpu_user') + field('used_cpu_sys') };
  }

  /** The highest sample in [from, to). */
  peak(from: number, to: number): { opsPerSec: number; cpu: number } {
    const inside = this.samples.filter((s) => s.at >= from && s.at < to);
    return { opsPerSec: Math.max(0, ...inside.map((s) => s.opsPerSec)), cpu: Math.max(0, ...inside.map((s) => s.cpu)) };
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

describe('reconnect storm: 3,000 clients through nginx, one push server killed -9', function () {
  let stack: Stack;
  let nginx: Nginx;
  const clients: ResilientSender[] = [];
  after(async function () {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await nginx?.stop();
    await stack?.stop();
  });

  it('brings every client back through nginx with every message exactly once and in order', async function () {
    this.timeout(120_000);
    stack = await Stack.start({ pushServers: 2, workers: 2, env: { TRUST_PROXY: '127.0.0.1', HEARTBEAT_MS: '1000' } });
    nginx = await Nginx.start(stack.pushServers.map((p) => p.port));
    const url = `${nginx.url}/ws`;
    for (let i = 0; i < CLIENTS; i++) {
      clients.push(new ResilientSender(() => [url], `u${i}`, `storm-${i % CHANNELS}`, { localAddress: ADDRESSES[i % ADDRESSES.length] }));
    }
    // Connect in waves so that the start is not itself the storm.
    for (let at = 0; at < CLIENTS; at += 250) await Promise.all(clients.slice(at, at + 250).map((c) => c.connect()));
    const [a, b] = stack.pushServers.map((p) => p.serverId);
    const onVictim = clients.filter((c) => c.serverId === b);
    expect(onVictim.length, 'clients on the push server to be killed').to.be.within(CLIENTS * 0.4, CLIENTS * 0.6);

    // One sender per channel (its first member), each message 1..N in order.
    const sent = new Map<string, number>();
    let sending = true;
    const senders = clients.slice(0, CHANNELS);
    const load = Promise.all(senders.map(async (s, c) => {
      await new Promise((r) => setTimeout(r, (c * SEND_EVERY_MS) / CHANNELS)); // spread over the period
      for (let n = 0; sending; n++) {
        await s.send(`${n}`, `${s.channel}-${n}`);
        sent.set(s.channel, n + 1);
        await new Promise((r) => setTimeout(r, SEND_EVERY_MS));
      }
    }));

    const sampler = new RedisLoad(stack.redis.client());
    await waitFor(() => [...sent.values()].reduce((n, v) => n + v, 0) >= 2 * CHANNELS || undefined, 'two messages per channel before the kill', 20_000);
    const before = Date.now();
    await new Promise((r) => setTimeout(r, 1000)); // a second of steady load for the baseline
    const killedAt = Date.now();
    await stack.push(1).program.kill('SIGKILL');
    await waitFor(() => onVictim.every((c) => c.serverId === a && c.connectedAt > killedAt) || undefined,
      () => `every client of the killed push server back on the other (${onVictim.filter((c) => c.connectedAt > killedAt).length} of ${onVictim.length}; ` +
        `reconnects ${onVictim.reduce((n, c) => n + c.reconnects, 0)}, failed attempts ${onVictim.reduce((n, c) => n + c.failedAttempts, 0)}, last error: ${onVictim.find((c) => c.lastError)?.lastError})`, 60_000, 50);
    const lastBack = Math.max(...onVictim.map((c) => c.connectedAt)) - killedAt;
    const storm = { from: killedAt, to: Date.now() + 1000 };
    await new Promise((r) => setTimeout(r, 2 * SEND_EVERY_MS)); // two more messages per channel after the storm
    sending = false;
    await load;
    await sampler.stop();

    // Every channel: the stored sequence is 1..N with each sent id once, and every member (moved
    // or not) received exactly 1..N, each seq once.
    const redis = stack.redis.client();
    let messages = 0;
    for (let c = 0; c < CHANNELS; c++) {
      const channel = `storm-${c}`;
      const n = sent.get(channel) ?? 0;
      const stored = await storedMessages(redis, channel);
      expect(stored.map((m) => m.text), `stored in ${channel}`).to.deep.equal(Array.from({ length: n }, (_, k) => String(k)));
      expect(stored.map((m) => m.seq), `seqs in ${channel}`).to.deep.equal(Array.from({ length: n }, (_, k) => k + 1));
      messages += n;
    }
    for (const c of clients) {
      const n = sent.get(c.channel) ?? 0;
      await waitFor(() => c.received.length >= n || undefined, `${c.user} to have all ${n} messages of ${c.channel} (has ${c.received.length})`, 20_000);
    }
    await Promise.all(clients.map((c) => c.barrier()));
    for (const c of clients) {
      const n = sent.get(c.channel) ?? 0;
      expect(c.received.map((m) => m.seq), `seqs received by ${c.user}`).to.deep.equal(Array.from({ length: n }, (_, k) => k + 1));
    }
    expect(stack.push(0).program.running, 'the surviving push server').to.equal(true);

    const baseline = sampler.peak(before, killedAt);
    const peak = sampler.peak(storm.from, storm.to);
    const failed = onVictim.reduce((n, c) => n + c.failedAttempts, 0);
    console.log(`      ${onVictim.length} of ${CLIENTS} clients back through nginx, the last ${lastBack} ms after the kill (${failed} failed attempts); ` +
      `${messages} messages in ${CHANNELS} channels, 0 lost, 0 doubled, 0 out of order`);
    console.log(`      Redis: ${Math.round(baseline.opsPerSec)} commands/s, CPU ${Math.round(baseline.cpu * 100)} % before; ` +
      `peak ${Math.round(peak.opsPerSec)} commands/s, CPU ${Math.round(peak.cpu * 100)} % during the storm`);
  });
});
