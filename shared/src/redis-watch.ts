/**
 * Whether this process can reach Redis (SPEC §9). A connection whose network stopped answering
 * stays "ready" in ioredis (nothing was closed), so a PING is sent every probe interval and the
 * time of the last answer is kept: no answer for `STALE_AFTER_MS` makes `/ready` say 503; none for
 * `cutoffMs` (REDIS_CUTOFF_MS) cuts the process off: its owner is told once (a push server closes
 * its connections so that clients move to one that can serve them). The first answer after that
 * restores it.
 */
import type { Logger } from './logger.js';
import type { RedisClient } from './scripts.js';

export interface RedisWatchMessages {
  /** Logged (error) once at the cut-off. */
  cutOff: string;
  /** Logged (info) at the first answer after it. */
  restored: string;
}

export const PROBE_INTERVAL_MS = 500;
/** No answer for this long and /ready answers 503 (well before the cut-off). */
export const STALE_AFTER_MS = 1500;

export class RedisWatch {
  private lastAnswer = Date.now();
  private probing = false;
  private timer: NodeJS.Timeout | undefined;
  private cut = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly cutoffMs: number,
    /** Called once when the server becomes cut off (it takes connections again by itself once Redis answers). */
    private readonly onCutOff: (silentForMs: number) => void,
    private readonly logger: Logger,
    private readonly messages: RedisWatchMessages,
  ) {}

  start(): void {
    this.lastAnswer = Date.now();
    this.timer = setInterval(() => this.tick(), PROBE_INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Redis answered recently enough to take traffic. */
  get answering(): boolean {
    return !this.cut && Date.now() - this.lastAnswer < Math.min(STALE_AFTER_MS, this.cutoffMs);
  }

  /** Cut off: past REDIS_CUTOFF_MS without an answer, and no answer since. */
  get cutOff(): boolean {
    return this.cut;
  }

  private tick(): void {
    const silent = Date.now() - this.lastAnswer;
    if (!this.cut && silent >= this.cutoffMs) {
      this.cut = true;
      this.logger.error(this.messages.cutOff, { silentMs: silent });
      this.onCutOff(silent);
    }
    // One probe at a time: over a black-holed network the previous one may still be waiting.
    if (this.probing) return;
    this.probing = true;
    this.redis.ping().then(() => {
      this.lastAnswer = Date.now();
      if (this.cut) {
        this.cut = false;
        this.logger.info(this.messages.restored);
      }
    }, () => undefined).finally(() => { this.probing = false; });
  }
}
