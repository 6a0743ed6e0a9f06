/**
 * One channel as a UI wants it, always current: the loaded messages in seq order with every
 * edit, delete and reaction applied, presence as a set, who is typing (for 5 s after each
 * notice), everyone's read markers, and the user's own marker and unread count. Pure state:
 * frames go in, a change description comes out; no I/O here.
 */
import type { ChannelEvent, HistoryFrame, MessageFrame, PageFrame, PresenceFrame, ReceiptsFrame, UpdateFrame } from '@chat/shared/protocol';

/** A typing notice shows for this long after it arrived. */
export const TYPING_SHOWN_MS = 5000;

export type ChangeKind = 'messages' | 'presence' | 'typing' | 'receipts' | 'unread';

export class ChannelModel {
  /** Loaded messages by seq (their current state). */
  private readonly bySeq = new Map<number, MessageFrame>();
  private ordered: MessageFrame[] | undefined = [];
  /** The last seq of the channel's stream applied (messages and updates). */
  lastSeq = 0;
  /** Whether older messages than those loaded remain (false once a page said so). */
  more = true;
  readonly presence = new Set<string>();
  /** User → when their typing notice stops showing (ms). */
  private readonly typingUntil = new Map<string, number>();
  /** User → read marker (seq), from history's own marker and `receipts`. */
  readonly receipts = new Map<string, number>();
  /** This user's read marker and unread count (messages by others after it, not deleted). */
  read = 0;
  unread = 0;

  /** `user` is set once the connection knows it (from `welcome`). */
  constructor(readonly channel: string, public user: string) {}

  /** The loaded messages, oldest first. */
  get messages(): readonly MessageFrame[] {
    this.ordered ??= [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
    return this.ordered;
  }

  /** Users typing now (not this user), sorted. */
  typing(now = Date.now()): string[] {
    for (const [user, until] of this.typingUntil) if (until <= now) this.typingUntil.delete(user);
    return [...this.typingUntil.keys()].sort();
  }

  /** The earliest time a typing notice stops showing (for a timer), undefined when none shows. */
  nextTypingExpiry(): number | undefined {
    let next: number | undefined;
    for (const until of this.typingUntil.values()) if (next === undefined || until < next) next = until;
    return next;
  }

  /**
   * A `history`: without `since` (first join) it replaces the loaded messages; with it (a resume)
   * its events continue the stream. Returns what changed.
   */
  history(h: HistoryFrame, resumed: boolean): ChangeKind[] {
    if (!resumed) {
      this.bySeq.clear();
      this.ordered = undefined;
      this.lastSeq = 0;
      this.more = true;
    }
    for (const e of h.messages) this.event(e, false);
    this.lastSeq = Math.max(this.lastSeq, h.seq);
    this.read = Math.max(this.read, h.read);
    if (h.read > 0) this.receipts.set(this.user, Math.max(this.receipts.get(this.user) ?? 0, h.read));
    this.unread = h.unread;
    return ['messages', 'unread'];
  }

  /** A live `message` or `update`; stale ones (seq already applied) are ignored. */
  live(e: ChannelEvent): ChangeKind[] {
    if (e.seq <= this.lastSeq) return [];
    const changed = this.event(e, true);
    this.lastSeq = e.seq;
    return changed;
  }

  private event(e: ChannelEvent, live: boolean): ChangeKind[] {
    if (e.type === 'message') {
      const known = this.bySeq.has(e.seq);
      this.bySeq.set(e.seq, e);
      this.ordered = undefined;
      // A message from someone else is typing no more, and is unread until the marker passes it.
      this.typingUntil.delete(e.author);
      if (live && !known && e.author !== this.user && !e.deleted && e.seq > this.read) {
        this.unread++;
        return ['messages', 'typing', 'unread'];
      }
      return ['messages'];
    }
    return this.update(e);
  }

  /** Applies an update to its target if loaded (a page loads older messages in their current state). */
  private update(u: UpdateFrame): ChangeKind[] {
    const m = this.bySeq.get(u.target);
    if (!m) return [];
    const next: MessageFrame = { ...m };
    switch (u.action) {
      case 'edit':
        if (m.deleted) return [];
        next.text = u.text ?? '';
        next.edited = u.timestamp;
        break;
      case 'delete':
        next.text = '';
        next.deleted = true;
        delete next.edited;
        delete next.reactions;
        if (!m.deleted && m.author !== this.user && m.seq > this.read && this.unread > 0) this.unread--;
        break;
      case 'react':
      case 'unreact': {
        const emoji = u.emoji ?? '';
        const reactions = Object.fromEntries(Object.entries(m.reactions ?? {}).map(([k, v]) => [k, [...v]]));
        const names = new Set(reactions[emoji] ?? []);
        if (u.action === 'react') names.add(u.author); else names.delete(u.author);
        if (names.size > 0) reactions[emoji] = [...names].sort(); else delete reactions[emoji];
        if (Object.keys(reactions).length > 0) next.reactions = reactions; else delete next.reactions;
        break;
      }
    }
    this.bySeq.set(m.seq, next);
    this.ordered = undefined;
    return ['messages'];
  }

  /** Older messages from `page`, in their current state. */
  page(p: PageFrame): ChangeKind[] {
    for (const m of p.messages) if (!this.bySeq.has(m.seq)) this.bySeq.set(m.seq, m);
    this.ordered = undefined;
    this.more = p.more;
    return ['messages'];
  }

  presenceFrame(p: PresenceFrame): ChangeKind[] {
    if (p.users) {
      this.presence.clear();
      for (const u of p.users) this.presence.add(u);
    }
    for (const u of p.joined ?? []) this.presence.add(u);
    for (const u of p.left ?? []) { this.presence.delete(u); this.typingUntil.delete(u); }
    return ['presence'];
  }

  typingNotice(user: string, now = Date.now()): ChangeKind[] {
    if (user === this.user) return [];
    this.typingUntil.set(user, now + TYPING_SHOWN_MS);
    return ['typing'];
  }

  receiptsFrame(r: ReceiptsFrame): ChangeKind[] {
    for (const [user, seq] of Object.entries(r.read)) this.receipts.set(user, Math.max(this.receipts.get(user) ?? 0, seq));
    const own = r.read[this.user];
    if (own === undefined || own <= this.read) return ['receipts'];
    this.markedRead(own);
    return ['receipts', 'unread'];
  }

  /**
   * This user's marker moved to `seq` (from this tab or another): the unread count is counted
   * again over the loaded messages when they reach back to the marker, else lowered by what the
   * marker passed.
   */
  markedRead(seq: number): void {
    if (seq <= this.read) return;
    const counts = (m: MessageFrame, after: number): boolean => m.author !== this.user && !m.deleted && m.seq > after;
    const oldest = this.messages[0]?.seq ?? Infinity;
    if (seq >= oldest - 1 || this.read >= oldest - 1) {
      const passed = this.messages.filter((m) => counts(m, this.read) && m.seq <= seq).length;
      this.unread = Math.max(0, this.unread - passed);
    }
    this.read = seq;
    this.receipts.set(this.user, seq);
  }

  /** The users (not this one) whose marker is at or past `seq`: who has seen it. */
  seenBy(seq: number): string[] {
    return [...this.receipts].filter(([u, s]) => u !== this.user && s >= seq).map(([u]) => u).sort();
  }
}
