/**
 * The inbound queue's contract: which partition a channel maps to and what a job carries.
 *
 * Messages of one channel always go to the same partition queue, and each partition runs one job
 * at a time across all workers (BullMQ global concurrency 1), so a channel's messages are stored
 * in the order they were enqueued. A job carries a batch: everything one producer enqueued for
 * one partition while its previous add was in flight.
 */
import { CHANNEL_PATTERN, MAX_EMOJI_BYTES, MAX_ID_LENGTH, UPDATE_ACTIONS, isValidUser, utf8Length, type UpdateAction } from './protocol.js';

/** What makes an inbound event an update of an earlier message rather than a new message. */
export interface InboundUpdate {
  /** The seq of the message changed. */
  target: number;
  action: UpdateAction;
  /** react/unreact: the emoji. (An edit's new text is the event's `text`.) */
  emoji?: string;
  /** Set only by the server API: may delete any author's message. */
  privileged?: boolean;
}

/**
 * One event as the push server (or the producer CLI, or the server API) hands it to the queue:
 * a message, or (with `update`) a change of an earlier one, stored in the same order.
 */
export interface InboundMessage {
  /** Channel name (already validated). */
  channel: string;
  /** Message id: the client's, or one the producer generated. De-duplicated per channel and author. */
  id: string;
  /** Author as the server established it; never taken from the client's frame. */
  author: string;
  /** The message's text, an edit's new text; "" for other updates. */
  text: string;
  /** When the producer received it (ms since epoch, producer's clock); for latency metrics only. */
  receivedAt: number;
  update?: InboundUpdate;
}

export interface InboundJobData {
  messages: InboundMessage[];
  /** Set by push servers: the worker announces the pickup of batch `batch` on `server`'s inbox. */
  origin?: { server: string; batch: number };
}

/** Job name used for every inbound batch. */
export const INBOUND_JOB_NAME = 'messages';

/** FNV-1a of the channel name modulo the partition count: stable across processes and hosts. */
export function partitionOf(channel: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < channel.length; i++) {
    hash ^= channel.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % partitions;
}

/** Checks a job's data as the worker receives it; returns a reason when it is unusable. */
export function checkInboundJob(data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null || !Array.isArray((data as InboundJobData).messages)) {
    return 'job data must be {messages: [...]}';
  }
  for (const [i, m] of (data as InboundJobData).messages.entries()) {
    if (typeof m !== 'object' || m === null) return `messages[${i}] is not an object`;
    if (typeof m.channel !== 'string' || !CHANNEL_PATTERN.test(m.channel)) return `messages[${i}].channel is invalid`;
    if (typeof m.id !== 'string' || m.id.length === 0 || m.id.length > MAX_ID_LENGTH) return `messages[${i}].id is invalid`;
    if (!isValidUser(m.author)) return `messages[${i}].author is invalid`;
    if (typeof m.text !== 'string') return `messages[${i}].text is not a string`;
    const u = m.update;
    if (u === undefined) continue;
    if (typeof u !== 'object' || u === null) return `messages[${i}].update is not an object`;
    if (!Number.isSafeInteger(u.target) || u.target < 1) return `messages[${i}].update.target is invalid`;
    if (!UPDATE_ACTIONS.includes(u.action)) return `messages[${i}].update.action is invalid`;
    if ((u.action === 'react' || u.action === 'unreact')
      && (typeof u.emoji !== 'string' || u.emoji.length === 0 || utf8Length(u.emoji) > MAX_EMOJI_BYTES)) {
      return `messages[${i}].update.emoji is invalid`;
    }
    if (u.action === 'edit' && m.text.length === 0) return `messages[${i}].text of an edit is empty`;
  }
  return undefined;
}

/**
 * The JSON tail of a stored frame: everything after `"seq":…,"timestamp":…,`. A message's is
 * `"channel":…,"id":…,"author":…,"text":…}`; an update's names its target and action and carries
 * the edit's text or the emoji.
 */
export function frameTail(m: InboundMessage): string {
  const u = m.update;
  if (!u) return JSON.stringify({ channel: m.channel, id: m.id, author: m.author, text: m.text }).slice(1);
  const value = u.action === 'edit' ? { text: m.text } : u.action === 'delete' ? {} : { emoji: u.emoji };
  return JSON.stringify({ channel: m.channel, id: m.id, author: m.author, target: u.target, action: u.action, ...value }).slice(1);
}

/**
 * What the persist script needs besides the frame to apply an update:
 * `target \t action \t privileged \t author \t value`; "" for a message.
 */
export function updateArgs(m: InboundMessage): string {
  const u = m.update;
  if (!u) return '';
  const value = u.action === 'edit' ? m.text : (u.emoji ?? '');
  return `${u.target}\t${u.action}\t${u.privileged ? 1 : 0}\t${m.author}\t${value}`;
}

/** The de-duplication key of a message within its channel. */
export function dedupKey(m: Pick<InboundMessage, 'author' | 'id'>): string {
  return `${m.author}\n${m.id}`;
}
