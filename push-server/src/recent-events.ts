/**
 * A channel's last few live events on this push server, kept so that the check of an update
 * (SPEC §3 "Precise rules": exists, is a message, not deleted, the sender's own for edit and
 * delete, within the reaction caps) can be answered here instead of by a Redis round trip.
 *
 * The push server receives every stored event of a channel it has members in, in seq order. The
 * last RECENT_EVENTS of them are kept as the frames that arrived (no parse on the delivery path);
 * a message among them is brought to its current state by replaying the updates after it, which
 * are all there too, since the run of seqs is unbroken. A target outside that run (older, not
 * arrived yet, or after a gap in the stream) has no answer here and is asked of Redis.
 *
 * The answer is advisory, exactly like the Redis read it stands in for: the worker checks every
 * update again when it stores it. A message's author never changes, so `forbidden` is exact; an
 * update stored but not yet arrived here can make the answer older than Redis's by the delivery
 * time (the worker then drops the update: acknowledged, never stored, as the SPEC allows).
 */
import type { MessageFrame, TargetState, UpdateFrame } from '@chat/shared';

/**
 * Events kept per channel. In chat most updates change one of the last few messages; 64 frames
 * of ~300 bytes are ~20 KB per channel with traffic. Dropped with the channel's last member here.
 */
export const RECENT_EVENTS = 64;

const UPDATE_PREFIX = '{"type":"update"';

export class RecentEvents {
  /** Frames of seqs first … first + frames.length - 1, oldest first. */
  private frames: string[] = [];
  private first = 0;

  constructor(private readonly capacity = RECENT_EVENTS) {}

  /** Keeps a live event. A jump forward (a missed delivery) starts the run again from `seq`. */
  add(seq: number, frame: string): void {
    const next = this.first + this.frames.length;
    if (seq < next && this.frames.length > 0) return; // a repeat of one already kept
    if (seq !== next || this.frames.length === 0) { this.frames = []; this.first = seq; }
    this.frames.push(frame);
    if (this.frames.length > this.capacity) { this.frames.shift(); this.first++; }
  }

  /**
   * Message `seq` in its current state, `missing` when that seq is an update or aged past
   * `cutoffMs`, or undefined when the seq is not in the kept run (ask the store).
   */
  target(seq: number, cutoffMs: number): TargetState | undefined {
    const at = seq - this.first;
    if (at < 0 || at >= this.frames.length) return undefined;
    const frame = this.frames[at] as string;
    if (frame.startsWith(UPDATE_PREFIX)) return { state: 'missing' };
    const message = JSON.parse(frame) as MessageFrame;
    if (message.timestamp < cutoffMs) return { state: 'missing' };
    const mark = `"target":${seq}`;
    for (let i = at + 1; i < this.frames.length; i++) {
      const later = this.frames[i] as string;
      if (!later.startsWith(UPDATE_PREFIX) || !later.includes(mark)) continue;
      const update = JSON.parse(later) as UpdateFrame;
      if (update.target === seq) apply(message, update);
    }
    return { state: 'message', message };
  }
}

/** Applies a stored update to its message as the Lua step did (a stored update always changed something). */
function apply(m: MessageFrame, u: UpdateFrame): void {
  switch (u.action) {
    case 'edit':
      m.text = u.text ?? '';
      m.edited = u.timestamp;
      return;
    case 'delete':
      m.text = '';
      m.deleted = true;
      delete m.edited;
      delete m.reactions;
      return;
    case 'react': {
      const reactions = m.reactions ??= {};
      (reactions[u.emoji as string] ??= []).push(u.author);
      return;
    }
    case 'unreact': {
      const names = m.reactions?.[u.emoji as string];
      if (!names) return;
      const reactions = m.reactions as Record<string, string[]>;
      const left = names.filter((n) => n !== u.author);
      if (left.length > 0) reactions[u.emoji as string] = left;
      else delete reactions[u.emoji as string];
      if (Object.keys(reactions).length === 0) delete m.reactions; // as stored: omitted when none
    }
  }
}
