/**
 * Clients that stop reading while 50,000 messages flow through their channel are closed (1013)
 * and their buffers freed; the push server's memory returns to within less than one send-buffer
 * cap of its baseline, a normal reader in the same channel gets everything, and what a slow
 * client did receive before the close is an unbroken prefix of the stream (nothing skipped).
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { runProducer } from '../helpers/programs.js';
import { scrapeCounter } from '../helpers/metrics.js';
import { Stack, TEST_ENV, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const SEND_BUFFER_CAP = 1024 * 1024;
const SLOW_CLIENTS = 3;
const WARM_UP = 10_000;

/** A client that reads its welcome, history and presence, then stops reading. */
class Sloth {
  readonly seqs: number[] = [];
  readonly closed: Promise<number>;
  private readonly ws: WebSocket;
  constructor(url: string, name: string) {
    this.ws = new WebSocket(`${url}/ws?user=${name}&channel=firehose-0`);
    this.ws.on('message', (d: Buffer) => {
      const f = JSON.parse(String(d)) as { type: string; seq?: number };
      if (f.type === 'message') this.seqs.push(f.seq as number);
    });
    this.ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.ws.once('close', (code) => resolve(code)));
  }

  async stopReading(): Promise<void> {
    await new Promise<void>((resolve) => this.ws.on('message', (d: Buffer) => { if (String(d).includes('"presence"')) resolve(); }));
    // The kernel buffers fill, then the server's send buffer for this client grows.
    this.socket.pause();
  }

  resume(): void { this.socket.resume(); }

  private get socket(): { pause(): void; resume(): void } {
    return (this.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
  }
}

describe('clients that never read', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 1, workers: 2, env: {
      MAX_SEND_BUFFER_BYTES: String(SEND_BUFFER_CAP),
      // The push server then reports memory after a full collection: freed send buffers no
      // longer count, where otherwise they count until V8 happens to run a major GC.
      NODE_OPTIONS: '--expose-gc',
    } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('are closed with 1013 and the server\'s memory returns to its baseline', async function () {
    this.timeout(120_000);
    const redis = stack.redis.client();
    const info = (): Promise<Record<string, string>> => redis.hgetall(`chat:push-server:${stack.push(0).serverId}:info`);
    const memory = async (): Promise<number> => { const i = await info(); return Number(i.heapUsed) + Number(i.external); };

    const reader = await stack.connect(0, 'reader');
    await reader.join('firehose-0');
    const got = collect(reader, 'firehose-0');
    const load = async (count: number): Promise<void> => {
      const run = await runProducer(['load', '--count', String(count), '--channels', '1', '--channel-prefix', 'firehose',
        '--rate', '10000', '--size', '200', '--json'], { REDIS_URL: stack.redis.url });
      expect(run.code, run.stderr).to.equal(0);
    };
    // A warm-up through the same path first: the baseline is then a server whose delivery code is
    // already compiled and optimised (about 1 MB of heap), so what remains is the slow clients'.
    await load(WARM_UP);
    await waitForCount(got, WARM_UP, 'warm-up messages at the normal reader', 30_000);
    const sloths = Array.from({ length: SLOW_CLIENTS }, (_, i) => new Sloth(stack.push(0).url, `sloth-${i}`));
    await Promise.all(sloths.map((s) => s.stopReading()));
    // The info hash is rewritten every heartbeat: the baseline is the first reading that a later
    // heartbeat confirms (within 64 KB), not one written while the warm-up was still in flight.
    let last = await memory();
    const baseline = await waitFor(async () => {
      await new Promise((r) => setTimeout(r, Number(TEST_ENV.HEARTBEAT_MS) + 100));
      const [before, now] = [last, await memory()];
      last = now;
      return Math.abs(now - before) < 64 * 1024 ? now : undefined;
    }, 'the push server\'s memory to settle before the load', 15_000, 0);

    await load(50_000);
    await waitForCount(got, WARM_UP + 50_000, 'all 50,000 messages at the normal reader', 60_000);
    expect(got.map((m) => m.seq)).to.deep.equal(Array.from({ length: WARM_UP + 50_000 }, (_, k) => k + 1));

    await waitFor(() => stack.push(0).program.logs.filter((l) => l.msg === 'closing connection' && l.code === 1013).length === SLOW_CLIENTS || undefined,
      `all ${SLOW_CLIENTS} slow clients to be closed with 1013`, 20_000);
    for (const l of stack.push(0).program.logs.filter((x) => x.code === 1013)) expect(l.reason).to.match(/send buffer full/);
    expect(await scrapeCounter(`${stack.push(0).httpUrl}/metrics`, 'chat_slow_client_disconnects_total')).to.equal(SLOW_CLIENTS);
    await waitFor(async () => Number((await info()).connections) === 1 || undefined, 'the slow connections to be gone');
    // Within less than one client's send-buffer cap of the baseline: all three buffers were freed.
    await waitFor(async () => (await memory()) < baseline + SEND_BUFFER_CAP * 0.9 || undefined,
      `memory back within ${SEND_BUFFER_CAP * 0.9} bytes of the baseline`, 60_000, 200);

    // What reached a slow client before its close is the stream's first messages, none skipped.
    for (const s of sloths) s.resume();
    for (const [i, s] of sloths.entries()) {
      await s.closed;
      expect(s.seqs.length, `messages sloth-${i} got before the close`).to.be.within(1, 49_999);
      expect(s.seqs, `sloth-${i} got an unbroken prefix`).to.deep.equal(Array.from({ length: s.seqs.length }, (_, k) => WARM_UP + k + 1));
    }
  });
});
