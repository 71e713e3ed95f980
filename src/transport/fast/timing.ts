/**
 * The `PerformanceResourceTiming` entry Node's fetch adds for each fetch, made the way it makes it: a
 * timing-info record with the field names Node's `performance.markResourceTiming()` reads, filled as the
 * exchange goes (start, each redirect, the request sent, the response's first bytes, the body's bytes),
 * and marked once, when the body has ended (read to its end, cancelled or errored) or at once for a null
 * body. Never for a request that failed before its headers, as in Node's fetch.
 */

const markResourceTiming = (performance as unknown as { markResourceTiming: (...args: unknown[]) => unknown })
  .markResourceTiming;

/** Connection times, as Node's fetch reports them for its own connections: all at `fetchStart`. */
interface ConnectionTiming {
  readonly domainLookupStartTime: number;
  readonly domainLookupEndTime: number;
  readonly connectionStartTime: number;
  readonly connectionEndTime: number;
  readonly secureConnectionStartTime: number;
  readonly ALPNNegotiatedProtocol: undefined;
}

export class ResourceTiming {
  readonly startTime: number;
  redirectStartTime = 0;
  redirectEndTime = 0;
  postRedirectStartTime: number;
  finalServiceWorkerStartTime = 0;
  finalNetworkResponseStartTime = 0;
  finalNetworkRequestStartTime = 0;
  endTime = 0;
  encodedBodySize = 0;
  decodedBodySize = 0;
  finalConnectionTimingInfo: ConnectionTiming | null = null;
  #marked = false;

  constructor(now = performance.now()) {
    this.startTime = this.postRedirectStartTime = now;
  }

  /** A redirect was followed: the next hop starts now. */
  redirected(now = performance.now()): void {
    this.redirectEndTime = this.postRedirectStartTime = now;
    if (this.redirectStartTime === 0) this.redirectStartTime = this.startTime;
  }

  /** A hop's request goes out on its connection. */
  requestSent(now = performance.now()): void {
    const at = this.postRedirectStartTime;
    this.finalConnectionTimingInfo = {
      domainLookupStartTime: at,
      domainLookupEndTime: at,
      connectionStartTime: at,
      connectionEndTime: at,
      secureConnectionStartTime: at,
      ALPNNegotiatedProtocol: undefined,
    };
    this.finalNetworkRequestStartTime = now;
  }

  /** The entry, named by the requested URL, once. */
  mark(requestedUrl: string, status: number): void {
    if (this.#marked) return;
    this.#marked = true;
    this.endTime = performance.now();
    markResourceTiming(this, requestedUrl, 'fetch', globalThis, '', '', status);
  }
}
