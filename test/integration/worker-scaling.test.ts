/**
 * The worker tier scales: with several queue partitions, workers share them out within seconds
 * of a scale-up or scale-down (each holds at most ceil(partitions / live workers)), and a load
 * running through the changes is stored with nothing lost, doubled or reordered.
 */
import { expect } from 'chai';
import type { MessageFrame } from '@chat/shared';
import { startWorker, type ProgramProcess } from '../helpers/programs.js';
import { Stack, collect } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const PARTITIONS = 4;

describe('worker scaling: partitions are re-shared among live workers', function () {
  let stack: Stack;
  before(async function () {
    stack = await Stack.start({ pushServers: 1, workers: 1, env: { QUEUE_PARTITIONS: String(PARTITIONS) } });
  });
  after(async function () {
    await stack?.stop();
  });

  /** Which worker id owns each partition now (`{chat:qP}:owner`). */
  const owners = async (): Promise<(string | null)[]> => {
    const redis = stack.redis.client();
    return Promise.all(Array.from({ length: PARTITIONS }, (_, p) => redis.get(`{chat:q${p}}:owner`)));
  };
  const workerId = (w: ProgramProcess): string => String(w.logs.find((l) => l.msg === 'worker ready')?.workerId);
  /** Waits until the live workers hold the partitions `perWorker` each, every partition owned. */
  const sharedOut = (workers: ProgramProcess[], perWorker: number, what: string, timeoutMs: number): Promise<(string | null)[]> =>
    waitFor(async () => {
      const now = await owners();
      if (now.some((o) => o === null)) return undefined;
      const ids = workers.map(workerId);
      if (now.some((o) => !ids.includes(o as string))) return undefined;
      return ids.every((id) => now.filter((o) => o === id).length === perWorker) ? now : undefined;
    }, what, timeoutMs);

  it('shares 4 partitions out to 1, then 4, then 2 workers within seconds, under a load that stays whole and in order', async function () {
    this.timeout(120_000);
    const first = stack.workers[0] as ProgramProcess;
    await sharedOut([first], 4, 'the only worker to hold all 4 partitions', 15_000);

    // A load through every partition for the whole test: 8 channels, one sender each.
    const channels = Array.from({ length: 8 }, (_, i) => `scale-${i}`);
    const sender = await stack.connect(0, 'scale-sender');
    const reader = await stack.connect(0, 'scale-reader');
    for (const c of channels) { await sender.join(c); await reader.join(c); }
    const got = new Map(channels.map((c) => [c, collect(reader, c)]));
    let sending = true;
    let sent = 0;
    const load = (async () => {
      while (sending) {
        await Promise.all(channels.map((c) => sender.send(c, `${c}:${sent}`, `${c}-${sent}`)));
        sent++;
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    const started = Date.now();
    const added = await Promise.all([1, 2, 3].map(() => startWorker(stack.env)));
    stack.workers.push(...added);
    const all = [first, ...added];
    await sharedOut(all, 1, 'each of the 4 workers to hold one partition', 15_000);
    const upSeconds = (Date.now() - started) / 1000;

    const downAt = Date.now();
    const [gone1, gone2] = [all[0] as ProgramProcess, all[2] as ProgramProcess];
    await Promise.all([gone1.kill(), gone2.kill()]);
    const left = all.filter((w) => w !== gone1 && w !== gone2);
    await sharedOut(left, 2, 'the 2 surviving workers to hold 2 partitions each', 15_000);
    const downSeconds = (Date.now() - downAt) / 1000;
    console.log(`      re-shared in ${upSeconds.toFixed(1)} s after scaling 1 → 4, ${downSeconds.toFixed(1)} s after 4 → 2 (killed -9)`);

    sending = false;
    await load;
    for (const c of channels) {
      const frames = await waitFor(() => ((got.get(c) as MessageFrame[]).length >= sent ? got.get(c) : undefined), `all ${sent} messages of ${c}`, 30_000);
      expect(frames.map((m) => m.id), `${c}: every message once, in send order`).to.deep.equal(Array.from({ length: sent }, (_, k) => `${c}-${k}`));
      expect(frames.map((m) => m.seq), `${c}: seq 1..${sent}`).to.deep.equal(Array.from({ length: sent }, (_, k) => k + 1));
    }
    expect(sent, 'messages per channel sent during the changes').to.be.greaterThan(20);
  });
});
