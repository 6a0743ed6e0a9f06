/**
 * A load of resilient senders (see ResilientSender) into one channel while something is done to
 * the stack, and the checks that follow every fault test: every acknowledged id stored exactly
 * once, a gap-free seq, each sender's messages in send order, and every sender (whichever server
 * it ended on) holding exactly the stored sequence.
 */
import { expect } from 'chai';
import { ChannelStore, RedisKeys, type MessageFrame } from '@chat/shared';
import { ResilientSender } from './resilient-sender.js';
import type { Stack } from './stack.js';
import { waitFor } from './wait.js';

export interface ResilientLoad {
  senders: ResilientSender[];
  total: number;
}

/**
 * Runs `senders` × `perSender` messages into `channel`, spreading senders over the push servers
 * still in `alive`; calls `onAck(n)` after the n-th acknowledgement (to kill or drain things).
 */
export async function runResilientLoad(stack: Stack, options: {
  channel: string; senders: number; perSender: number; alive: Set<number>; onAck(n: number): void;
}): Promise<ResilientLoad> {
  const urls = (): string[] => [...options.alive].map((i) => stack.push(i).url);
  const senders = Array.from({ length: options.senders }, (_, i) => new ResilientSender(() => {
    const list = urls();
    return [...list.slice(i % list.length), ...list.slice(0, i % list.length)];
  }, `${options.channel}-${i}`, options.channel));
  await Promise.all(senders.map((s) => s.connect()));
  let acks = 0;
  await Promise.all(senders.map(async (s, i) => {
    for (let n = 0; n < options.perSender; n++) {
      await s.send(`${i}:${n}`, `${options.channel}-${i}-${n}`);
      options.onAck(++acks);
    }
  }));
  return { senders, total: options.senders * options.perSender };
}

export async function storedMessages(stack: Stack, channel: string): Promise<MessageFrame[]> {
  const store = new ChannelStore(stack.redis.client(), new RedisKeys('chat'), 86_400_000);
  return (await store.read(channel, { since: 0 })).frames.map((f) => JSON.parse(f) as MessageFrame);
}

const range = (n: number): number[] => Array.from({ length: n }, (_, k) => k + 1);

export async function expectExactlyOnceInOrder(stack: Stack, channel: string, load: ResilientLoad): Promise<void> {
  const { senders, total } = load;
  expect(senders.reduce((n, s) => n + s.reconnects, 0), 'clients that moved servers').to.be.greaterThan(0);
  await waitFor(async () => (await storedMessages(stack, channel)).length === total || undefined, 'every message stored', 30_000);
  const stored = await storedMessages(stack, channel);
  expect(stored.map((m) => m.seq)).to.deep.equal(range(total));
  const ids = stored.map((m) => m.id);
  expect(new Set(ids).size).to.equal(total);
  for (const s of senders) for (const id of s.acked) expect(ids).to.include(id);
  const perSender = total / senders.length;
  for (const s of senders) {
    const order = stored.filter((m) => m.author === s.user).map((m) => Number(m.text.split(':')[1]));
    expect(order, `send order of ${s.user}`).to.deep.equal(Array.from({ length: perSender }, (_, n) => n));
  }
  for (const s of senders) {
    await waitFor(() => s.received.length === total || undefined, `${s.user} to see every message`);
    expect(s.received.map((m) => m.seq)).to.deep.equal(range(total));
  }
  await Promise.all(senders.map((s) => s.close()));
}
