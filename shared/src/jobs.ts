/**
 * The inbound queue's contract: which partition a channel maps to and what a job carries.
 *
 * Messages of one channel always go to the same partition queue, and each partition runs one job
 * at a time across all workers (BullMQ global concurrency 1), so a channel's messages are stored
 * in the order they were enqueued. A job carries a batch: everything one producer enqueued for
 * one partition while its previous add was in flight.
 */
import { CHANNEL_PATTERN, MAX_ID_LENGTH, isValidUser } from './protocol.js';

/** One message as the push server (or the producer CLI) hands it to the queue. */
export interface InboundMessage {
  /** Channel name (already validated). */
  channel: string;
  /** Message id: the client's, or one the producer generated. De-duplicated per channel and author. */
  id: string;
  /** Author as the server established it; never taken from the client's frame. */
  author: string;
  text: string;
  /** When the producer received it (ms since epoch, producer's clock); for latency metrics only. */
  receivedAt: number;
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
  }
  return undefined;
}

/** The JSON tail of a stored frame: everything after `"seq":…,"timestamp":…,`. */
export function frameTail(m: InboundMessage): string {
  return `${JSON.stringify({ channel: m.channel, id: m.id, author: m.author, text: m.text }).slice(1)}`;
}

/** The de-duplication key of a message within its channel. */
export function dedupKey(m: Pick<InboundMessage, 'author' | 'id'>): string {
  return `${m.author}\n${m.id}`;
}
