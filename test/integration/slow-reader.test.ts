/**
 * A client that stops reading while 50,000 messages flow through its channel is closed (1013)
 * and its buffers freed; the push server's memory returns to its baseline and a normal reader in
 * the same channel gets everything.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { runProducer } from '../helpers/programs.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

describe('a client that never reads', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 1, workers: 2, env: { MAX_SEND_BUFFER_BYTES: String(1024 * 1024) } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('is closed with 1013 and the server\'s memory returns to its baseline', async function () {
    this.timeout(120_000);
    const redis = stack.redis.client();
    const info = (): Promise<Record<string, string>> => redis.hgetall(`chat:push-server:${stack.push(0).serverId}:info`);
    const memory = async (): Promise<number> => { const i = await info(); return Number(i.heapUsed) + Number(i.external); };

    const reader = await stack.connect(0, 'reader');
    await reader.join('firehose-0');
    const got = collect(reader, 'firehose-0');

    const slow = new WebSocket(`${stack.push(0).url}/ws?user=sloth&channel=firehose-0`);
    let slowBytes = 0;
    await new Promise<void>((resolve) => slow.on('message', (d: Buffer) => { slowBytes += d.length; if (String(d).includes('"presence"')) resolve(); }));
    // Stop reading: the kernel buffers fill, then the server's send buffer for this client grows.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    const baseline = await memory();

    const load = await runProducer(['load', '--count', '50000', '--channels', '1', '--channel-prefix', 'firehose', '--rate', '10000',
      '--size', '200', '--json'], { REDIS_URL: stack.redis.url });
    expect(load.code, load.stderr).to.equal(0);
    await waitForCount(got, 50_000, 'all 50,000 messages at the normal reader', 60_000);
    expect(got.map((m) => m.seq)).to.deep.equal(Array.from({ length: 50_000 }, (_, k) => k + 1));

    const closing = await stack.push(0).program.waitForLog((l) => l.msg === 'closing connection' && l.code === 1013, 'the 1013 close');
    expect(closing.reason).to.match(/send buffer full/);
    // Far less than the 50,000 messages (about 16 MB) reached the slow client's socket.
    expect(slowBytes).to.be.below(2 * 1024 * 1024);
    await waitFor(async () => {
      const i = await info();
      return Number(i.connections) === 1 || undefined;
    }, 'the slow connection to be gone');
    await waitFor(async () => (await memory()) < baseline + 8 * 1024 * 1024 || undefined, 'memory back near the baseline', 30_000, 200);
    slow.terminate();
  });
});
