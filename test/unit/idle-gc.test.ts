/**
 * The idle collector (push-server/src/idle-gc.ts) against this process's own V8 heap and event
 * loop: it collects only after an idle window with enough new garbage, follows up once, and
 * never collects after a busy window.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import { fullCollector, IdleGc } from '@chat/push-server';

const MiB = 1024 * 1024;
/** Where the loops leave their results, so that they are not optimised away. */
const held: unknown[] = [];

/** Makes about `mib` MiB of short-lived objects and drops them. */
function garbage(mib: number): void {
  const keep: object[] = [];
  for (let i = 0; i < mib * 10_000; i++) keep.push({ i, s: `item ${i}`, a: [i, i + 1] });
  held.push(keep);
  held.pop();
}

/** Keeps the event loop busy (a synchronous loop counts as busy time) for `ms`, allocating nothing. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  let x = 0;
  // The clock is read seldom: each reading can allocate a number.
  for (let i = 1; (i & 0xffff) !== 0 || Date.now() < until; i++) x = (x + i) | 0;
  held.push(x);
  held.pop();
}

describe('idle collector', () => {
  it('hands out V8\'s collector without the --expose-gc flag, and leaves no global gc behind', () => {
    const hadGlobal = typeof (globalThis as { gc?: unknown }).gc === 'function';
    expect(fullCollector()).to.be.a('function');
    expect(typeof (globalThis as { gc?: unknown }).gc === 'function').to.equal(hadGlobal);
  });

  it('collects after an idle window with new garbage, once more in the next idle window, then waits for growth', async () => {
    const pauses: number[] = [];
    const idle = new IdleGc({ minGrowthBytes: 4 * MiB, minIntervalMs: 0, collected: (s) => pauses.push(s) });
    garbage(40);
    await sleep(100); // V8's own work right after the allocations (about 20 ms here) falls before the window
    idle.start(); // begins the first window (stopped at once: the test ticks it)
    idle.stop();
    const before = v8.getHeapStatistics().used_heap_size;
    await sleep(150);
    expect(idle.tick(), 'idle window with garbage').to.equal(true);
    expect(v8.getHeapStatistics().used_heap_size).to.be.below(before - 4 * MiB);
    await sleep(150);
    expect(idle.tick(), 'the follow-up').to.equal(true);
    await sleep(150);
    expect(idle.tick(), 'no new garbage since').to.equal(false);
    expect(pauses).to.have.length(2);
    expect(pauses.every((s) => s > 0 && s < 5)).to.equal(true);
  });

  it('does not collect after a busy window, however much garbage there is, and a busy window cancels the follow-up', async () => {
    let collections = 0;
    const idle = new IdleGc({ minGrowthBytes: 4 * MiB, minIntervalMs: 0, collected: () => { collections++; } });
    garbage(40);
    await sleep(100);
    idle.start();
    idle.stop();
    busy(150);
    expect(idle.tick(), 'busy window').to.equal(false);
    await sleep(150);
    expect(idle.tick(), 'idle again').to.equal(true);
    busy(150);
    expect(idle.tick(), 'busy before the follow-up').to.equal(false);
    await sleep(150);
    expect(idle.tick(), 'the follow-up was dropped, and nothing grew').to.equal(false);
    expect(collections).to.equal(1);
  });

  it('waits the least interval between collections', () => {
    // Every window counts as idle here, so only growth and the interval decide.
    const idle = new IdleGc({ minGrowthBytes: 1 * MiB, minIntervalMs: 60_000, maxUtilization: 1 });
    idle.start();
    idle.stop();
    garbage(20);
    expect(idle.tick()).to.equal(true);
    expect(idle.tick(), 'follow-up').to.equal(true);
    garbage(20);
    expect(idle.tick(), 'grown, but within the interval').to.equal(false);
    const again = new IdleGc({ minGrowthBytes: 1 * MiB, minIntervalMs: 0, maxUtilization: 1 });
    again.start();
    again.stop();
    garbage(20);
    expect(again.tick()).to.equal(true);
    expect(again.tick(), 'follow-up').to.equal(true);
    garbage(20);
    expect(again.tick(), 'grown, no interval').to.equal(true);
  });

  it('runs nothing without a collector', () => {
    let called = 0;
    const given = new IdleGc({ collector: () => { called++; }, minGrowthBytes: 0, minIntervalMs: 0, maxUtilization: 1 });
    expect(given.available).to.equal(true);
    expect(given.tick()).to.equal(true);
    expect(called).to.equal(1);
    const none = new IdleGc({ collector: false, minGrowthBytes: 0, minIntervalMs: 0, maxUtilization: 1 });
    expect(none.available).to.equal(false);
    expect(none.tick()).to.equal(false);
  });
});
