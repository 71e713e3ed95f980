/**
 * Rate-limit pacing per host: what the host last said of its rate limit (`rate-limit-headers.ts` reads
 * it), and, when it said nothing remains until a reset, the instant new calls to it wait for. The wait is
 * made by the retry loop before an attempt is dispatched, so a paced call holds no slot of the total cap
 * and never delays another host. When the host is not paced, the check is one field read.
 */
import { type RateLimitHint, readRateLimit } from './rate-limit-headers.ts';

/** `stats().hosts[host].rateLimit`: what the host said last, and until when calls to it wait. */
export interface RateLimitStats extends RateLimitHint {
  /** Epoch ms of the response that said it. */
  readonly seenAt: number;
  /** Epoch ms until which new calls wait (0: not paced). */
  readonly pacedUntil: number;
}

export class HostRateLimit {
  /** Epoch ms until which new calls wait; 0 when the host is not paced (the one field a call reads). */
  until = 0;
  #last: RateLimitHint | undefined;
  #seenAt = 0;

  /** Takes in what a response from the host says; a response that says nothing (or garbage) changes nothing. */
  observe(headers: Headers, now = Date.now()): void {
    const hint = readRateLimit(headers, now);
    if (hint === undefined) return;
    this.#last = hint;
    this.#seenAt = now;
    this.until = hint.remaining === 0 && hint.resetAt !== undefined && hint.resetAt > now ? hint.resetAt : 0;
  }

  /**
   * How long a call starting now waits, in ms: 0 when the host is not paced, its reset has passed, or the
   * reset is further away than `maxWaitMs` (the call then goes out as it would without pacing).
   */
  waitMs(maxWaitMs: number, now = Date.now()): number {
    if (this.until === 0) return 0;
    const wait = this.until - now;
    if (wait <= 0) {
      this.until = 0;
      return 0;
    }
    return wait > maxWaitMs ? 0 : wait;
  }

  /** True while calls to the host wait (the registry keeps such a host). */
  isPaced(now = Date.now()): boolean {
    return this.until > now;
  }

  stats(): RateLimitStats | null {
    if (this.#last === undefined) return null;
    return { ...this.#last, seenAt: this.#seenAt, pacedUntil: this.until };
  }
}
