/**
 * A chat channel's storage in Redis: the atomic persist-and-route step the workers run, and the
 * consistent history reads the push servers, the HTTP API and the CLI use.
 */
import type { InboundMessage } from './jobs.js';
import { dedupKey, frameTail } from './jobs.js';
import { RedisKeys } from './keys.js';
import type { HistoryFrame, MessageFrame } from './protocol.js';
import { MAX_SINCE_MESSAGES } from './protocol.js';
import { callScript, registerScripts, type RedisClient } from './scripts.js';

export interface HistoryRead {
  /** The channel's latest seq (0 when nothing was ever stored or the channel expired). */
  seq: number;
  complete: boolean;
  /** Message frames as JSON strings, oldest first: exactly what members receive. */
  frames: string[];
}

export type HistoryQuery = { last: number } | { since: number; cap?: number };

export class ChannelStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly retentionMs: number,
  ) {
    registerScripts(redis);
  }

  /**
   * Stores messages of one channel in the given order and publishes each to the live push
   * servers routed for the channel. Returns each message's seq, 0 for a duplicate.
   */
  async persist(channel: string, messages: readonly InboundMessage[]): Promise<number[]> {
    const args: (string | number)[] = [this.retentionMs, this.keys.inboxRoute(channel)];
    for (const m of messages) args.push(dedupKey(m), frameTail(m));
    return callScript<number[]>(this.redis, 'chatPersistMessages', this.keys.channelKeys(channel), args);
  }

  /** The channel's latest seq (0 when none), without reading messages. */
  async latestSeq(channel: string): Promise<number> {
    return Number((await this.redis.get(this.keys.channelSeq(channel))) ?? 0);
  }

  async read(channel: string, query: HistoryQuery): Promise<HistoryRead> {
    const keys = [this.keys.channelMessages(channel), this.keys.channelSeq(channel), this.keys.channelIds(channel)];
    const args: (string | number)[] = 'last' in query
      ? [this.retentionMs, 'last', query.last]
      : [this.retentionMs, 'since', query.since, query.cap ?? MAX_SINCE_MESSAGES];
    const reply = await callScript<(string | number)[]>(this.redis, 'chatReadHistory', keys, args);
    return { seq: Number(reply[0]), complete: Number(reply[1]) === 1, frames: reply.slice(2) as string[] };
  }
}

/** The `history` frame as JSON, built without re-serialising the stored frames. */
export function historyFrameJson(channel: string, read: HistoryRead): string {
  return `{"type":"history","channel":${JSON.stringify(channel)},"messages":[${read.frames.join(',')}],` +
    `"seq":${read.seq},"complete":${read.complete}}`;
}

/** Parses a read into objects, for the HTTP API and the CLI. */
export function historyFrame(channel: string, read: HistoryRead): HistoryFrame {
  return {
    type: 'history',
    channel,
    messages: read.frames.map((f) => JSON.parse(f) as MessageFrame),
    seq: read.seq,
    complete: read.complete,
  };
}

/**
 * Reads channel and seq from a stored frame without parsing the whole JSON: the worker's Lua
 * writes every frame as `{"type":"message","seq":N,"timestamp":T,"channel":"name",…`.
 */
const FRAME_HEAD = /^\{"type":"message","seq":(\d+),"timestamp":\d+,"channel":"([A-Za-z0-9_.:-]+)"/;
export function frameHead(frame: string): { seq: number; channel: string } | undefined {
  const m = FRAME_HEAD.exec(frame);
  return m ? { seq: Number(m[1]), channel: m[2] as string } : undefined;
}
