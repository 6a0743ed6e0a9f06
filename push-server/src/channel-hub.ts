/**
 * Local channel membership and in-order delivery on one push server.
 *
 * Every (connection, channel) pair is a `Subscription` that remembers the last seq it delivered.
 * A message is sent to a member only if its seq is exactly the next one: older ones are dropped
 * (history already had them, or a duplicate), and a jump forward (a pub/sub message was missed,
 * e.g. across a Redis reconnect) is filled from the channel's stored messages first. While a
 * member's history or gap fill is being read, live messages are held back and replayed after.
 * This is what makes `history` followed by the live stream gap-free and duplicate-free.
 */
import {
  ChannelStore, frameHead, historyFrameJson, MAX_SINCE_MESSAGES, type HistoryRead, type Logger, type TargetState,
} from '@chat/shared';
import { LocalPresence, parsePresenceEvent, type PresenceStore } from './presence.js';
import { WireFrame } from './wire-frame.js';
import { inChunks } from './chunks.js';
import { RecentEvents } from './recent-events.js';

/** What the hub needs of a connection. */
export interface MemberSink {
  readonly id: string;
  /** The connection's user name (unique per channel). */
  readonly user: string;
  /** The client's session id (`session` query parameter), '' when none: lets it reclaim its name. */
  readonly session: string;
  /** Sends an already-serialised frame (text) of the given type. */
  sendFrame(frame: Buffer | string, type: 'history' | 'presence'): void;
  /** Sends a stored event, framed once for every member. */
  sendMessage(frame: WireFrame): void;
  /** Sends a frame fanned out to many members (framed once): typing, receipts, presence changes. */
  sendShared(frame: WireFrame, type: 'typing' | 'receipts' | 'presence'): void;
  readonly isOpen: boolean;
}

export interface RouteControl {
  add(channel: string): Promise<void>;
  remove(channel: string): Promise<void>;
  count(channel: string, members: number): Promise<void>;
}

/** A join refused because another live connection holds the name in the channel. */
export class NameTakenError extends Error {
  override name = 'NameTakenError';
}

export class Subscription {
  /** Last seq delivered to this member in this channel. */
  seq = 0;
  /** True once the member got the full presence list; diffs follow it. */
  presenceSent = false;
  /** True while history or a gap fill is being read; live messages wait in `held`. */
  loading = true;
  held: { seq: number; frame: WireFrame }[] = [];
  constructor(readonly member: MemberSink, readonly channel: string) {}
}

interface LocalChannel {
  members: Map<string, Subscription>;
  /** Resolves once this server is routed for the channel. */
  routed: Promise<void>;
  presence: LocalPresence;
  /** Resolves once `presence` holds the names read from Redis. */
  presenceRead: Promise<void> | undefined;
  flushTimer: NodeJS.Timeout | undefined;
  /** Read markers that moved since the last `receipts` frame (user → seq), and its timer. */
  receipts: Map<string, number>;
  receiptsTimer: NodeJS.Timeout | undefined;
  /** The channel's stored seq at the previous gap check: older messages should have arrived by now. */
  checkedSeq: number;
  /** The last live events, for update checks without Redis; made by the first delivery. */
  recent: RecentEvents | undefined;
}

export interface HubOptions {
  historyLimit: number;
  /** Presence diffs (and receipts) are sent at most this often per channel. */
  presenceIntervalMs: number;
  /** Whether one user may hold its name from several connections (authenticated users). */
  allowSameUser: boolean;
  /** Called when the gap check finds a channel's members behind the store (a delivery was missed). */
  onBehind?: (channel: string) => void;
  /**
   * Called with the member deliveries that came from a store read because pub/sub had not
   * brought them: `stream` a jump in the live stream, `check` the heartbeat gap check, `resync`
   * the re-read after the inbox subscription came back.
   */
  onGapFilled?: (via: GapFillVia, deliveries: number) => void;
}

export type GapFillVia = 'stream' | 'check' | 'resync';

export class ChannelHub {
  private readonly channels = new Map<string, LocalChannel>();

  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ChannelStore,
    private readonly routes: RouteControl,
    private readonly presence: PresenceStore,
    private readonly options: HubOptions,
    private readonly logger: Logger,
  ) {}

  /** Sweeps dead servers' names from every local channel this often (half a heartbeat). */
  startPresenceSweeps(intervalMs: number): void {
    let sweeping = false;
    this.sweepTimer = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      void inChunks(this.channels.keys(), (channel) => this.presence.sweep(channel, true)
        .catch((err: Error) => this.logger.debug('presence sweep failed', { channel, error: err.message })))
        .finally(() => { sweeping = false; });
    }, intervalMs);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const local of this.channels.values()) this.clearTimers(local);
  }

  private clearTimers(local: LocalChannel): void {
    if (local.flushTimer) clearTimeout(local.flushTimer);
    if (local.receiptsTimer) clearTimeout(local.receiptsTimer);
  }

  /** The full presence frame of a channel the member joined, from this server's copy. */
  presenceFrame(member: MemberSink, channel: string): string | undefined {
    const local = this.channels.get(channel);
    if (!local?.members.has(member.id) || !local.presence.ready) return undefined;
    return JSON.stringify({ type: 'presence', channel, users: local.presence.list() });
  }

  /** Local member count per channel. */
  counts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, ch] of this.channels) out.set(name, ch.members.size);
    return out;
  }

  channelNames(): string[] {
    return [...this.channels.keys()];
  }

  isMember(member: MemberSink, channel: string): boolean {
    return this.channels.get(channel)?.members.has(member.id) ?? false;
  }

  /**
   * Joins a member to a channel and sends its `history` (the last HISTORY_LIMIT messages, or all
   * retained after `since`), then the live stream. A repeated join restarts the member's stream.
   */
  async join(member: MemberSink, channel: string, since?: number): Promise<void> {
    const sub = new Subscription(member, channel);
    let local = this.channels.get(channel);
    if (!local) {
      local = {
        members: new Map([[member.id, sub]]), routed: Promise.resolve(), presence: new LocalPresence(),
        presenceRead: undefined, flushTimer: undefined, receipts: new Map(), receiptsTimer: undefined, checkedSeq: 0,
        recent: undefined,
      };
      this.channels.set(channel, local);
      local.routed = this.routes.add(channel);
    } else {
      const before = local.members.size;
      local.members.set(member.id, sub);
      if (local.members.size !== before) void this.routes.count(channel, local.members.size).catch(() => undefined);
    }
    try {
      // The route must be visible to workers before history is read: then every message stored
      // after the read is published to this server and nothing falls between the two.
      await local.routed;
      if (!(await this.presence.claim(channel, member.id, member.user, this.options.allowSameUser, member.session))) {
        throw new NameTakenError(`${member.user} is already in ${channel}: connect with another name`);
      }
      await this.presenceReady(local, channel);
      const query = since === undefined ? { last: this.options.historyLimit } : { since, cap: MAX_SINCE_MESSAGES };
      const read = await this.store.read(channel, query, member.user);
      if (this.channels.get(channel)?.members.get(member.id) !== sub) return; // left or re-joined meanwhile
      if (member.isOpen) {
        member.sendFrame(historyFrameJson(channel, read), 'history');
        member.sendFrame(JSON.stringify({ type: 'presence', channel, users: local.presence.list() }), 'presence');
      }
      sub.presenceSent = true;
      sub.seq = read.seq;
      this.release(sub);
    } catch (err) {
      if (this.channels.get(channel)?.members.get(member.id) === sub) this.leave(member, channel);
      throw err;
    }
  }

  /** Reads the channel's names once per local channel; later joins reuse the copy. */
  private async presenceReady(local: LocalChannel, channel: string): Promise<void> {
    local.presenceRead ??= this.presence.sweep(channel, true).then((names) => local.presence.init(names));
    try {
      await local.presenceRead;
    } catch (err) {
      local.presenceRead = undefined;
      throw err;
    }
  }

  /** Removes a member from a channel and frees its name; the last one out unroutes the channel. Returns false if not joined. */
  leave(member: MemberSink, channel: string): boolean {
    const local = this.channels.get(channel);
    if (!local || !local.members.delete(member.id)) return false;
    // Issued before the route removal on the same connection, so Redis runs them in this order.
    this.presence.release(channel, member.id).catch((err: Error) => this.logger.warn('presence release failed', { channel, error: err.message }));
    if (local.members.size === 0) {
      this.clearTimers(local);
      this.channels.delete(channel);
      this.routes.remove(channel).catch((err: Error) => this.logger.warn('unroute failed', { channel, error: err.message }));
    } else {
      void this.routes.count(channel, local.members.size).catch(() => undefined);
    }
    return true;
  }

  /**
   * Delivers one payload from this server's inbox: stored events of one channel (frames in seq
   * order, one per line), or a presence change, a typing notice, a moved read marker.
   */
  dispatch(payload: string): void {
    if (payload.startsWith('p\n')) { this.presenceEvent(payload); return; }
    if (payload.startsWith('t\n')) { this.typingEvent(payload); return; }
    if (payload.startsWith('r\n')) { this.receiptEvent(payload); return; }
    for (let start = 0; start < payload.length;) {
      let end = payload.indexOf('\n', start);
      if (end < 0) end = payload.length;
      this.deliver(payload.slice(start, end));
      start = end + 1;
    }
  }

  private deliver(frame: string): void {
    const head = frameHead(frame);
    if (!head) {
      this.logger.warn('dropped an inbox frame of unknown shape', { frame: frame.slice(0, 120) });
      return;
    }
    const local = this.channels.get(head.channel);
    if (!local) return;
    (local.recent ??= new RecentEvents()).add(head.seq, frame);
    const wire = WireFrame.text(frame); // serialised once, sent to every member as is
    for (const sub of local.members.values()) this.offer(sub, head.seq, wire);
  }

  /**
   * Message `seq` of `channel` in its current state from the events that arrived here, or
   * undefined when they do not tell (see RecentEvents): the caller asks the store.
   */
  recentTarget(channel: string, seq: number, cutoffMs: number): TargetState | undefined {
    return this.channels.get(channel)?.recent?.target(seq, cutoffMs);
  }

  private presenceEvent(payload: string): void {
    const event = parsePresenceEvent(payload);
    const local = event ? this.channels.get(event.channel) : undefined;
    if (!event || !local || !local.presence.apply(event.joined, event.user) || local.flushTimer) return;
    local.flushTimer = setTimeout(() => {
      local.flushTimer = undefined;
      this.flushPresence(event.channel, local);
    }, this.options.presenceIntervalMs);
  }

  /**
   * "t\n<channel>\n<user>[\n<channel>\n<user>…]" (a batch of notices): each to its channel's
   * members here that have their history, except the typer's own connections.
   */
  private typingEvent(payload: string): void {
    const parts = payload.split('\n');
    for (let i = 1; i + 1 < parts.length; i += 2) {
      const channel = parts[i] as string;
      const user = parts[i + 1] as string;
      const local = this.channels.get(channel);
      if (local) this.broadcast(local, WireFrame.text(JSON.stringify({ type: 'typing', channel, user })), 'typing', user);
    }
  }

  /** Sends a shared frame to every member here that has its history (not to `except`'s connections). */
  private broadcast(local: LocalChannel, frame: WireFrame, type: 'typing' | 'receipts' | 'presence', except?: string): void {
    for (const sub of local.members.values()) {
      if (sub.presenceSent && sub.member.isOpen && sub.member.user !== except) sub.member.sendShared(frame, type);
    }
  }

  /** "r\n<channel>\n<user>\n<seq>": kept until the channel's next `receipts` frame (coalesced like presence). */
  private receiptEvent(payload: string): void {
    const [, channel, user, seqText] = payload.split('\n');
    const local = channel === undefined ? undefined : this.channels.get(channel);
    const seq = Number(seqText);
    if (!local || user === undefined || !Number.isSafeInteger(seq)) return;
    local.receipts.set(user, Math.max(seq, local.receipts.get(user) ?? 0));
    local.receiptsTimer ??= setTimeout(() => {
      local.receiptsTimer = undefined;
      const read = Object.fromEntries(local.receipts);
      local.receipts.clear();
      this.broadcast(local, WireFrame.text(JSON.stringify({ type: 'receipts', channel, read })), 'receipts');
    }, this.options.presenceIntervalMs);
  }

  /** Sends the coalesced presence change to every member that already has the full list. */
  private flushPresence(channel: string, local: LocalChannel): void {
    const diff = local.presence.takeDiff();
    if (!diff) return;
    this.broadcast(local, WireFrame.text(JSON.stringify({ type: 'presence', channel, joined: diff.joined, left: diff.left })), 'presence');
  }

  /**
   * Re-reads every local channel from the store after the inbox subscription was lost and
   * restored: messages published meanwhile reach their members now, in order, once.
   */
  async resync(): Promise<void> {
    await Promise.all([...this.channels].map(async ([channel, local]) => {
      // Redis may have lost the names (a restart without AOF): claim ours again, then re-read.
      for (const sub of local.members.values()) {
        const ok = await this.presence.claim(channel, sub.member.id, sub.member.user, this.options.allowSameUser, sub.member.session);
        if (!ok) this.logger.warn('a name was taken while Redis was away', { channel, user: sub.member.user });
      }
      if (local.presence.ready) {
        local.presence.reset(await this.presence.sweep(channel, true));
        this.flushPresence(channel, local);
      }
      await this.catchUp(channel, local, 'resync');
    }));
  }

  /**
   * The safety net under pub/sub: compares each local channel's stored seq with what its members
   * have and fills any gap from the store. Pub/sub drops messages while a subscription is being
   * re-established (a Redis restart, a cluster failover); this bounds such a loss to two
   * heartbeats. Only messages stored before the previous check count as missing: newer ones may
   * still be on their way, and re-reading them under load would only add work.
   */
  async checkGaps(): Promise<void> {
    await inChunks(this.channels, async ([channel, local]) => {
      const subs = [...local.members.values()].filter((s) => !s.loading);
      if (subs.length === 0) return;
      const latest = await this.store.latestSeq(channel);
      const missing = Math.min(...subs.map((s) => s.seq)) < Math.min(local.checkedSeq, latest);
      local.checkedSeq = latest;
      if (!missing) return;
      this.options.onBehind?.(channel);
      await this.catchUp(channel, local, 'check');
    });
  }

  /**
   * Offers the channel's stored messages after the furthest-behind member's seq to every member
   * (each takes only what it lacks, in order).
   */
  private async catchUp(channel: string, local: LocalChannel, via: GapFillVia): Promise<void> {
    // Live events were missed: what arrived no longer tells a message's current state.
    local.recent = undefined;
    const subs = [...local.members.values()].filter((s) => !s.loading);
    if (subs.length === 0) return;
    const behind = Math.min(...subs.map((s) => s.seq));
    const read = await this.store.read(channel, { since: behind, cap: MAX_SINCE_MESSAGES });
    let filled = 0;
    for (const frame of read.frames) {
      const head = frameHead(frame);
      if (!head) continue;
      const wire = WireFrame.text(frame);
      for (const sub of subs) if (this.offer(sub, head.seq, wire)) filled++;
    }
    if (filled > 0) this.options.onGapFilled?.(via, filled);
  }

  /** Delivers `seq` to the member if it is the next one; returns true when it was sent now. */
  private offer(sub: Subscription, seq: number, frame: WireFrame): boolean {
    if (sub.loading) { sub.held.push({ seq, frame }); return false; }
    if (seq <= sub.seq) return false;
    if (seq === sub.seq + 1) {
      sub.seq = seq;
      if (sub.member.isOpen) sub.member.sendMessage(frame);
      return true;
    }
    // A gap: read what is missing from the store, hold live messages until it is in.
    sub.loading = true;
    sub.held.push({ seq, frame });
    this.logger.debug('filling a gap from the store', { channel: sub.channel, from: sub.seq, to: seq });
    void this.fill(sub);
    return false;
  }

  private async fill(sub: Subscription): Promise<void> {
    let read: HistoryRead | undefined;
    for (let attempt = 0; ; attempt++) {
      try {
        read = await this.store.read(sub.channel, { since: sub.seq, cap: MAX_SINCE_MESSAGES });
        break;
      } catch (err) {
        if (!sub.member.isOpen || attempt >= 20) {
          this.logger.warn('gap fill failed', { channel: sub.channel, error: (err as Error).message });
          break;
        }
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
      }
    }
    const frames = read?.frames ?? [];
    if (frames.length > 0) {
      const first = frameHead(frames[0] as string);
      // Messages already trimmed by retention cannot be delivered: continue from what exists.
      if (first && first.seq > sub.seq + 1) sub.seq = first.seq - 1;
    } else if (read && sub.held.length > 0) {
      const firstHeld = Math.min(...sub.held.map((h) => h.seq));
      if (firstHeld > sub.seq + 1) sub.seq = firstHeld - 1;
    }
    sub.loading = false;
    // Count only what pub/sub had not brought: the held live messages arrived by themselves.
    const arrived = new Set(sub.held.map((h) => h.seq));
    let filled = 0;
    for (const frame of frames) {
      const head = frameHead(frame);
      if (head && this.offer(sub, head.seq, WireFrame.text(frame)) && !arrived.has(head.seq)) filled++;
    }
    if (filled > 0) this.options.onGapFilled?.('stream', filled);
    this.release(sub);
  }

  /** Ends loading: replays held live messages in seq order. */
  private release(sub: Subscription): void {
    sub.loading = false;
    const held = sub.held.sort((a, b) => a.seq - b.seq);
    sub.held = [];
    for (const h of held) this.offer(sub, h.seq, h.frame);
  }
}
