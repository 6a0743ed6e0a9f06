/**
 * The chat events a connection asks for beyond sending (SPEC §3 "Chat events"): the checks an
 * update (edit, delete, react, unreact) must pass before it is acknowledged and queued, and the
 * reads and signals that never touch the queue: `page`, `read`, `typing`.
 *
 * An update's check is advisory: the worker's persist step decides again when it stores it (the
 * target may be deleted or trimmed meanwhile, or not stored yet when the update names a seq past
 * the channel's latest, as an edit sent right behind its message does).
 */
import {
  ChannelStore, DEFAULT_PAGE_LIMIT, ErrorCode, MAX_REACTION_EMOJI, MAX_REACTORS, pageFrameJson, TYPING_WINDOW_MS,
  type InboundMessage, type PageRequestFrame, type TargetState, type TypingNotice, type UpdateRequestFrame,
} from '@chat/shared';

/** An update refused before its ack: the error frame's code and message. */
export interface Refusal {
  code: ErrorCode;
  message: string;
}

/**
 * Typing notices are sent to Redis in small batches: those of one window go in one Lua step
 * (one per channel on a cluster) and reach each push server as one payload, instead of a step,
 * a publish per server and a pub/sub message per notice. The window delays a notice by at most
 * this much.
 */
export const TYPING_BATCH_MS = 20;

export class ChatEvents {
  private typingBatch: TypingNotice[] = [];
  private typingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: ChannelStore,
    private readonly onTypingError: (err: Error) => void = () => undefined,
    /** The target as the events that reached this server tell it, undefined when they do not (ChannelHub.recentTarget). */
    private readonly recent: (channel: string, seq: number) => TargetState | undefined = () => undefined,
    /** Where the checks were answered (PushMetrics keeps these). */
    private readonly counts: { checkedHere: number; checkedInStore: number } = { checkedHere: 0, checkedInStore: 0 },
  ) {}

  /**
   * Why `user` may not make this update now, or undefined when it may be queued. The target is
   * looked up among the channel's recent events here first (most updates change a recent
   * message), else read from the store: an update then costs no Redis round trip of its own.
   */
  async refusal(frame: UpdateRequestFrame, user: string): Promise<Refusal | undefined> {
    const { channel, seq } = frame;
    let target = this.recent(channel, seq);
    if (target) this.counts.checkedHere++;
    else {
      this.counts.checkedInStore++;
      target = await this.store.target(channel, seq);
    }
    if (target.state === 'pending') return undefined;
    if (target.state === 'missing') {
      return { code: ErrorCode.NotFound, message: `${channel} has no retained message ${seq} (it aged out, or that seq is an update)` };
    }
    const m = target.message;
    if (m.deleted) return { code: ErrorCode.NotFound, message: `message ${seq} in ${channel} was deleted` };
    if ((frame.type === 'edit' || frame.type === 'delete') && m.author !== user) {
      return { code: ErrorCode.Forbidden, message: `only its author may ${frame.type} message ${seq} in ${channel}` };
    }
    if (frame.type === 'react') {
      const names = m.reactions?.[frame.emoji];
      if (names === undefined && Object.keys(m.reactions ?? {}).length >= MAX_REACTION_EMOJI) {
        return { code: ErrorCode.BadRequest, message: `message ${seq} already has ${MAX_REACTION_EMOJI} different reactions: react with one of them` };
      }
      if (names !== undefined && !names.includes(user) && names.length >= MAX_REACTORS) {
        return { code: ErrorCode.BadRequest, message: `${MAX_REACTORS} members already reacted with ${frame.emoji} to message ${seq}` };
      }
    }
    return undefined;
  }

  /** The queued form of an update. */
  inbound(frame: UpdateRequestFrame, id: string, author: string): InboundMessage {
    const update = frame.type === 'react' || frame.type === 'unreact'
      ? { target: frame.seq, action: frame.type, emoji: frame.emoji }
      : { target: frame.seq, action: frame.type };
    return { channel: frame.channel, id, author, text: frame.type === 'edit' ? frame.text : '', receivedAt: Date.now(), update };
  }

  /** The `page` answer as JSON. */
  async page(frame: PageRequestFrame): Promise<string> {
    const read = await this.store.page(frame.channel, frame.before ?? 0, frame.limit ?? DEFAULT_PAGE_LIMIT);
    return pageFrameJson(frame.channel, frame.before, read);
  }

  /** Moves the user's read marker; the channel's push servers send the coalesced receipts. */
  async read(channel: string, user: string, seq: number): Promise<void> {
    await this.store.markRead(channel, user, seq);
  }

  /**
   * Forwards a typing notice to the channel's members unless one was forwarded in the window;
   * best effort (a notice lost to a Redis error is only logged).
   */
  typing(channel: string, user: string): void {
    this.typingBatch.push({ channel, user });
    this.typingTimer ??= setTimeout(() => this.flushTyping(), TYPING_BATCH_MS);
  }

  private flushTyping(): void {
    this.typingTimer = undefined;
    const batch = this.typingBatch;
    this.typingBatch = [];
    this.store.typing(batch).catch(this.onTypingError);
  }

  stop(): void {
    if (this.typingTimer) clearTimeout(this.typingTimer);
  }
}

/**
 * Drops a connection's own typing frames inside the window before they cost a Redis call (the
 * Redis marker then keeps it to one per user across all of the user's connections).
 */
export class TypingThrottle {
  private readonly last = new Map<string, number>();

  /** Whether a typing frame in `channel` may go on now. */
  pass(channel: string, now = Date.now()): boolean {
    const at = this.last.get(channel);
    if (at !== undefined && now - at < TYPING_WINDOW_MS) return false;
    this.last.set(channel, now);
    return true;
  }

  forget(channel: string): void {
    this.last.delete(channel);
  }
}
