/**
 * A load of resilient senders (see ResilientSender) into one channel while something is done to
 * the deployment, and the checks that follow every fault test: every acknowledged id stored
 * exactly once, a gap-free seq, each sender's messages in send order, and every sender (whichever
 * server it ended on) having received exactly the stored sequence, each seq once.
 */
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { ChannelStore, RedisKeys, type MessageFrame } from '@chat/shared';
import { ResilientSender, type ResilientOptions } from './resilient-sender.js';
import type { Stack } from './stack.js';
import { waitFor } from './wait.js';

export interface ResilientLoad {
  senders: ResilientSender[];
  /** Messages each sender sent (and had acknowledged). */
  sent: number[];
  total: number;
}

/** The URLs of the stack's push servers still in `alive`, looked up at each (re)connect. */
export function stackUrls(stack: Stack, alive: Set<number>): () => string[] {
  return () => [...alive].map((i) => stack.push(i).url);
}

/**
 * Runs `senders` resilient senders into `channel`, each sending `perSender` messages (or, with
 * `until`, until it returns true, at most `perSender`), `paceMs` apart. Sender i starts at the
 * i-th of `urls()` (round robin); `onAck(n)` runs after the n-th acknowledgement.
 */
export async function runResilientLoad(urls: () => string[], options: {
  channel: string; senders: number; perSender: number; onAck?(n: number): void; until?(): boolean; paceMs?: number;
  sender?(i: number): ResilientOptions;
}): Promise<ResilientLoad> {
  const senders = Array.from({ length: options.senders }, (_, i) => new ResilientSender(() => {
    const list = urls();
    return [...list.slice(i % list.length), ...list.slice(0, i % list.length)];
  }, `${options.channel}-${i}`, options.channel, options.sender?.(i)));
  await Promise.all(senders.map((s) => s.connect()));
  let acks = 0;
  const sent = senders.map(() => 0);
  await Promise.all(senders.map(async (s, i) => {
    for (let n = 0; n < options.perSender && !options.until?.(); n++) {
      await s.send(`${i}:${n}`, `${options.channel}-${i}-${n}`);
      sent[i]++;
      acks++;
      options.onAck?.(acks);
      if (options.paceMs) await new Promise((r) => setTimeout(r, options.paceMs));
    }
  }));
  return { senders, sent, total: acks };
}

export async function storedMessages(redis: Redis, channel: string): Promise<MessageFrame[]> {
  const store = new ChannelStore(redis, new RedisKeys('chat'), 86_400_000);
  // Everything, past the 1,000 a client's `since` gets at once.
  return (await store.read(channel, { since: 0, cap: 1_000_000 })).frames.map((f) => JSON.parse(f) as MessageFrame);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k + 1);

/** `moved`: the fault must have made some client reconnect (default true). */
export async function expectExactlyOnceInOrder(redis: Redis, channel: string, load: ResilientLoad, moved = true): Promise<void> {
  const { senders, total, sent } = load;
  if (moved) expect(senders.reduce((n, s) => n + s.reconnects, 0), 'clients that moved servers').to.be.greaterThan(0);
  await waitFor(async () => (await storedMessages(redis, channel)).length >= total || undefined, 'every message stored', 30_000);
  const stored = await storedMessages(redis, channel);
  expect(stored.map((m) => m.seq)).to.deep.equal(range(total));
  const ids = stored.map((m) => m.id);
  expect(new Set(ids).size).to.equal(total);
  for (const s of senders) for (const id of s.acked) expect(ids).to.include(id);
  for (const [i, s] of senders.entries()) {
    const order = stored.filter((m) => m.author === s.user).map((m) => Number(m.text.split(':')[1]));
    expect(order, `send order of ${s.user}`).to.deep.equal(Array.from({ length: sent[i] as number }, (_, n) => n));
  }
  for (const s of senders) {
    await waitFor(() => s.received.length >= total || undefined, `${s.user} to see every message (has ${s.received.length} of ${total})`);
    // Raw frames, across every reconnect: each seq exactly once, in order, nothing more.
    await s.barrier();
    expect(s.received.map((m) => m.seq), `seqs received by ${s.user}`).to.deep.equal(range(total));
  }
  await Promise.all(senders.map((s) => s.close()));
}
