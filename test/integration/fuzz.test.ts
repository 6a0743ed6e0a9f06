/**
 * 20,000 random and mutated frames from several connections: the servers never crash, every frame
 * is answered (or, past the payload limit, the connection closes with 1009), memory stays
 * bounded, and well-formed traffic on other connections is unaffected.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { fuzzFrames } from '../helpers/fuzz.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/** Frames that answer exactly one client frame each (a join's full presence list is part of its answer). */
const ANSWERS = new Set(['error', 'ack', 'history', 'left', 'pong']);
/** A channel no fuzz frame names: a `leave` of it is answered `not_joined`, in order, after everything before it. */
const BARRIER = 'zz-barrier';

/** One fuzzing connection: sends frames, matches one answer to each, reconnects after a 1009 close. */
class Fuzzer {
  ws!: WebSocket;
  answers = 0;
  expected = 0;
  barriers = 0;
  readonly closes: number[] = [];
  /** Per channel, joins answered with history whose full presence list has not arrived yet. */
  private readonly joinPresence = new Map<string, number>();
  constructor(private readonly url: string, private readonly name: string) {}

  async open(): Promise<void> {
    this.ws = new WebSocket(`${this.url}/ws?user=${this.name}`);
    this.answers = 0;
    this.expected = 0;
    this.barriers = 0;
    this.joinPresence.clear();
    await new Promise<void>((resolve, reject) => {
      this.ws.once('message', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('close', (code) => this.closes.push(code));
    this.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; channel?: string; code?: string; users?: unknown };
      if (frame.type === 'error' && frame.channel === BARRIER && frame.code === 'not_joined') { this.barriers++; return; }
      if (ANSWERS.has(frame.type)) {
        this.answers++;
        if (frame.type === 'history') this.joinPresence.set(frame.channel as string, (this.joinPresence.get(frame.channel as string) ?? 0) + 1);
      } else if (frame.type === 'presence' && frame.users !== undefined) {
        // The full list right after a history belongs to that join; any other answers a presence request.
        const owed = this.joinPresence.get(frame.channel as string) ?? 0;
        if (owed > 0) this.joinPresence.set(frame.channel as string, owed - 1); else this.answers++;
      }
    });
  }

  /** Sends a batch; resolves once every frame was answered exactly once, or the connection closed as SPEC says. */
  async send(frames: ReturnType<typeof fuzzFrames>): Promise<void> {
    for (const f of frames) {
      if (f.oversized) {
        // Everything sent before must be answered first; then the frame closes the connection.
        await this.waitAnswered();
        const closed = new Promise<void>((r) => this.ws.once('close', () => r()));
        this.ws.send(f.data);
        await closed;
        await this.open();
        continue;
      }
      this.ws.send(f.data, { binary: f.binary });
      this.expected++;
    }
    await this.waitAnswered();
  }

  /**
   * Sends a barrier frame and waits for its answer: frames are answered in order, so by then every
   * earlier frame has had its answer, and the count must match exactly (no frame unanswered, none
   * answered twice). The connection must stay open.
   */
  private async waitAnswered(): Promise<void> {
    const want = this.barriers + 1;
    this.ws.send(JSON.stringify({ type: 'leave', channel: BARRIER }));
    await waitFor(() => this.barriers >= want || this.ws.readyState !== WebSocket.OPEN || undefined,
      `${this.name} to answer its barrier (answers ${this.answers} of ${this.expected}, state ${this.ws.readyState}, closes ${this.closes.join(',')})`, 30_000);
    expect(this.ws.readyState, `${this.name} closed unexpectedly (codes ${this.closes.join(',')})`).to.equal(WebSocket.OPEN);
    expect(this.answers, `${this.name}: answers to ${this.expected} frames`).to.equal(this.expected);
    expect([...this.joinPresence.values()].every((n) => n === 0), `${this.name}: every join's presence list arrived`).to.equal(true);
  }
}

describe('fuzz: 20,000 hostile frames', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 2, workers: 1, env: { RATE_LIMIT: '100000', RATE_BURST: '100000' } });
  });
  after(async function () {
    await stack?.stop();
  });

  it('never crashes, answers every frame, keeps memory bounded and other traffic flowing', async function () {
    this.timeout(240_000);
    const redis = stack.redis.client();
    const memory = async (i: number): Promise<number> => {
      const info = await redis.hgetall(`chat:push-server:${stack.push(i).serverId}:info`);
      return Number(info.heapUsed) + Number(info.external);
    };
    const baseline = [await memory(0), await memory(1)];

    const alice = await stack.connect(0, 'steady-a');
    const bob = await stack.connect(1, 'steady-b');
    await alice.join('steady');
    await bob.join('steady');
    const atBob = collect(bob, 'steady');
    let steadySent = 0;
    let fuzzing = true;
    const steady = (async () => {
      while (fuzzing) {
        await alice.send('steady', `tick ${steadySent}`, `t-${steadySent}`);
        steadySent++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const perConnection = Number(process.env.FUZZ_PER_CONNECTION ?? 2500);
    const fuzzers = Array.from({ length: 8 }, (_, i) => new Fuzzer(stack.push(i % 2).url, `fuzzer-${i}`));
    await Promise.all(fuzzers.map((f) => f.open()));
    let peak = 0;
    await Promise.all(fuzzers.map(async (f, i) => {
      const frames = fuzzFrames(1000 + i, perConnection, 64 * 1024); // the push server's payload limit with MAX_TEXT_BYTES=4096
      for (let at = 0; at < frames.length; at += 100) {
        await f.send(frames.slice(at, at + 100));
        if (process.env.FUZZ_DEBUG) console.log(i, at, f.answers, f.expected, Date.now() % 100000);
        if (i === 0 && at % 500 === 0) peak = Math.max(peak, await memory(0), await memory(1));
      }
    }));
    fuzzing = false;
    await steady;

    for (const p of stack.pushServers) expect(p.program.running, `${p.serverId} still running`).to.equal(true);
    for (const f of fuzzers) for (const code of f.closes) expect(code, 'close code for an oversized frame').to.equal(1009);
    await waitForCount(atBob, steadySent, 'every steady message');
    expect(atBob.map((m) => m.id)).to.deep.equal(Array.from({ length: steadySent }, (_, k) => `t-${k}`));
    expect(steadySent).to.be.greaterThan(10);
    expect(peak - Math.max(...baseline), 'memory growth during the fuzz (bytes)').to.be.below(200 * 1024 * 1024);
    for (const [i, p] of stack.pushServers.entries()) {
      expect((await fetch(`${p.httpUrl}/health`)).status).to.equal(200);
      expect(await memory(i) - (baseline[i] as number), 'memory after the fuzz').to.be.below(100 * 1024 * 1024);
    }
  });
});
