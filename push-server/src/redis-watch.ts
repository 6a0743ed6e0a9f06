/**
 * Whether this push server can reach Redis (SPEC §9). A connection whose network stopped
 * answering stays "ready" in ioredis (nothing was closed), so a PING is sent every probe interval
 * and the time of the last answer is kept: no answer for `staleMs` makes `/ready` say 503; none
 * for `cutoffMs` (REDIS_CUTOFF_MS) cuts the server off: it tells its owner to close its
 * connections so that clients move to a push server that can serve them. The first answer after
 * that restores it.
 */
import type { Logger, RedisClient } from '@chat/shared';

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
      this.logger.error('cut off from Redis: closing connections so that clients move to another push server', { silentMs: silent });
      this.onCutOff(silent);
    }
    // One probe at a time: over a black-holed network the previous one may still be waiting.
    if (this.probing) return;
    this.probing = true;
    this.redis.ping().then(() => {
      this.lastAnswer = Date.now();
      if (this.cut) {
        this.cut = false;
        this.logger.info('Redis answers again: accepting connections');
      }
    }, () => undefined).finally(() => { this.probing = false; });
  }
}
