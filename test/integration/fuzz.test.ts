/**
 * 20,000 random and mutated frames (every frame type, chat events included) from several
 * connections: the servers never crash, every frame gets exactly the answer SPEC says (one, or
 * none for typing and read in a joined channel; past the payload limit, a 1009 close), memory
 * stays bounded, and well-formed traffic on other connections is unaffected.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { parseClientFrame } from '@chat/shared';
import { fuzzFrames } from '../helpers/fuzz.js';
import { Stack, collect, waitForCount } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

/** Frames that answer a client frame (a join's full presence list is part of its answer). */
const ANSWERS = new Set(['error', 'ack', 'history', 'left', 'presence', 'page']);
/**
 * A channel no fuzz frame names, joined by every fuzzer: the ack of a message to it comes after
 * the answer of every frame sent before it (frames are handled in order, and one partition's
 * adds are confirmed in order), so it closes a batch. Everything in it is left out of matching.
 */
const BARRIER = 'zz-barrier';
/** Frames that change a channel: acknowledged when their add lands, later than the frames behind them (pipelining). */
const CHANGES = new Set(['message', 'edit', 'delete', 'react', 'unreact']);
/** The fuzz stack's MAX_TEXT_BYTES (the default). */
const LIMITS = { maxTextBytes: 4096 };

type Answer = { type: string; channel?: string; code?: string; users?: unknown; id?: string; ref?: string; connectionId?: string };

/**
 * One fuzzing connection: sends frames, and at each barrier matches the answers, in order, to
 * the frames sent: exactly one answer per frame, except `typing` and `read` in a joined channel,
 * which get none (and `ping`, whose `pong` skips the line and is counted on its own). A change
 * (message or update) that is accepted is answered by an `ack` with its id whenever its add
 * lands (a connection is pipelined); one that is refused by an error with that id, in order.
 * Which channels are joined follows from the answers themselves (history joins, left leaves).
 * Reconnects after a 1009 close.
 */
class Fuzzer {
  ws!: WebSocket;
  pongs = 0;
  barriers = 0;
  readonly closes: number[] = [];
  /** Frames sent since the last barrier, and the answers received in order. */
  private sent: Array<string | Uint8Array> = [];
  private answers: Answer[] = [];
  /** Ids of the acks received since the last barrier (they arrive when their add lands). */
  private acks: string[] = [];
  private connectionId = '';
  /** Changes sent without an id: the server names them `<connectionId>.<n>`. */
  private unnamed = 0;
  private pings = 0;
  private readonly joined = new Set<string>();
  constructor(private readonly url: string, private readonly name: string) {}

  async open(): Promise<void> {
    this.ws = new WebSocket(`${this.url}/ws?user=${this.name}`);
    this.sent = [];
    this.answers = [];
    this.acks = [];
    this.unnamed = 0;
    this.pings = 0;
    this.pongs = 0;
    this.barriers = 0;
    this.joined.clear();
    let barrierJoined = false;
    await new Promise<void>((resolve, reject) => {
      this.ws.once('message', (data) => {
        this.connectionId = String((JSON.parse(String(data)) as Answer).connectionId);
        this.ws.send(JSON.stringify({ type: 'join', channel: BARRIER }));
        resolve();
      });
      this.ws.once('error', reject);
    });
    this.ws.on('close', (code) => this.closes.push(code));
    this.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Answer;
      if (frame.channel === BARRIER) {
        if (frame.type === 'history') barrierJoined = true;
        if (frame.type === 'ack') this.barriers++;
        return;
      }
      if (frame.type === 'pong') { this.pongs++; return; }
      if (frame.type === 'ack') { this.acks.push(frame.id as string); return; }
      // Presence diffs, deliveries, typing notices and receipts come from other connections.
      if (ANSWERS.has(frame.type) && !(frame.type === 'presence' && frame.users === undefined)) this.answers.push(frame);
    });
    await waitFor(() => barrierJoined || undefined, `${this.name} to join ${BARRIER}`);
  }

  /** Sends a batch; resolves once every frame was answered as SPEC says, or the connection closed as it says. */
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
      this.sent.push(f.binary ? (f.data as Uint8Array) : String(f.data));
    }
    await this.waitAnswered();
  }

  /**
   * Sends a barrier message and waits for its ack: by then every earlier frame has had its
   * answer. Then the answers are matched to the frames, exactly (no frame unanswered, none
   * answered twice). The connection must stay open.
   */
  private async waitAnswered(): Promise<void> {
    const want = this.barriers + 1;
    this.ws.send(JSON.stringify({ type: 'message', channel: BARRIER, id: `barrier-${want}`, text: 'barrier' }));
    await waitFor(() => this.barriers >= want || this.ws.readyState !== WebSocket.OPEN || undefined,
      `${this.name} to answer its barrier (answers ${this.answers.length} to ${this.sent.length} frames, state ${this.ws.readyState}, closes ${this.closes.join(',')})`, 30_000);
    expect(this.ws.readyState, `${this.name} closed unexpectedly (codes ${this.closes.join(',')})`).to.equal(WebSocket.OPEN);
    this.match();
  }

  private match(): void {
    let next = 0;
    const take = (what: string): Answer => {
      const a = this.answers[next++];
      expect(a, `${this.name}: an answer to ${what}`).to.not.equal(undefined);
      return a as Answer;
    };
    for (const data of this.sent) {
      const parsed = parseClientFrame(data, typeof data !== 'string', LIMITS);
      const what = String(data).slice(0, 120);
      if (!parsed.ok) { expect(take(what).type, `${this.name}: answer to ${what}`).to.equal('error'); continue; }
      const f = parsed.frame;
      if (f.type === 'ping') { this.pings++; continue; }
      if ((f.type === 'typing' || f.type === 'read') && this.joined.has(f.channel)) continue; // no answer
      if (CHANGES.has(f.type)) {
        const id = (f as { id?: string }).id ?? `${this.connectionId}.${++this.unnamed}`;
        const acked = this.acks.indexOf(id);
        if (acked >= 0) { this.acks.splice(acked, 1); continue; }
        const refusal = take(what);
        expect([refusal.type, refusal.ref], `${this.name}: a refusal of ${what}`).to.deep.equal(['error', id]);
        continue;
      }
      const answer = take(what);
      if (f.type === 'join' && answer.type === 'history') {
        this.joined.add(f.channel);
        const list = take(`the presence list after the history of ${f.channel}`);
        expect([list.type, Array.isArray(list.users)]).to.deep.equal(['presence', true]);
      }
      if (f.type === 'leave' && answer.type === 'left') this.joined.delete(f.channel);
    }
    expect(this.answers.length - next, `${this.name}: answers left over after matching ${this.sent.length} frames`).to.equal(0);
    expect(this.acks, `${this.name}: acks that answer no frame`).to.deep.equal([]);
    expect(this.pongs, `${this.name}: pongs`).to.equal(this.pings);
    this.sent = [];
    this.answers = [];
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
