/**
 * Typing notices ride along with a member's next write instead of costing one of their own.
 *
 * A typing notice reaches a member in a payload of its own (see ChatEvents.typing), so written at
 * once it costs the server a system call and the client a read per member, about as much as a
 * message delivery, for a signal a person sees only to the nearest fraction of a second. Held
 * here, it goes out in the same corked write as the member's next message or ack when one
 * comes within TYPING_HOLD_MS, else alone when the hold ends. The delay is at most
 * TYPING_HOLD_MS; order does not matter, since typing is not part of the event stream.
 */

/** Longest a typing notice waits for a write to share. */
export const TYPING_HOLD_MS = 50;

/** A connection holding typing notices: it writes them when asked (or earlier, with its next write). */
export interface HeldWriter {
  writeHeld(): void;
}

export class TypingHold {
  private readonly waiting = new Set<HeldWriter>();
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly holdMs = TYPING_HOLD_MS) {}

  /** `writer` now holds notices: it is asked to write them within holdMs unless it released them first. */
  hold(writer: HeldWriter): void {
    this.waiting.add(writer);
    // One timer for every writer: a notice held later in the window waits less, never more.
    this.timer ??= setTimeout(() => this.flush(), this.holdMs);
  }

  /** `writer` wrote its notices with another write. */
  release(writer: HeldWriter): void {
    this.waiting.delete(writer);
  }

  get size(): number {
    return this.waiting.size;
  }

  private flush(): void {
    this.timer = undefined;
    const writers = [...this.waiting];
    this.waiting.clear();
    for (const w of writers) w.writeHeld();
  }

  /** Writes whatever is held now (the server is stopping). */
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.flush();
  }
}
