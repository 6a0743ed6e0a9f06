/**
 * Times are kept in whole milliseconds since this moment and tokens in thousandths, so both stay
 * small integers, which V8 stores inside the object (a fractional or large number would be a
 * separate heap object: two buckets per connection).
 */
const EPOCH = Date.now();

/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export class TokenBucket {
  /** Tokens held, in thousandths. */
  private milli: number;
  /** When tokens were last added, in ms since EPOCH. */
  private last: number;
  private readonly capMilli: number;

  constructor(private readonly rate: number, burst: number, now: number = Date.now()) {
    this.capMilli = burst * 1000;
    this.milli = this.capMilli;
    this.last = now - EPOCH;
  }

  /** Takes one token if there is one. */
  take(now: number = Date.now()): boolean {
    const at = now - EPOCH;
    // `rate` tokens a second is `rate` thousandths a millisecond.
    this.milli = Math.min(this.capMilli, this.milli + (at - this.last) * this.rate);
    this.last = at;
    if (this.milli < 1000) return false;
    this.milli -= 1000;
    return true;
  }
}
