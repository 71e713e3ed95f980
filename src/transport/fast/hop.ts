/**
 * The handler of one request on the wire (one hop of an exchange: the first request, or a redirect the
 * exchange follows). undici calls it; it forwards to its exchange while it is the exchange's current hop.
 */
import type { Peer } from '../../dispatch/peers.ts';
import type { Slots } from '../../dispatch/queue.ts';
import type { ResourceTiming } from './timing.ts';

/** The legacy (undici 7 core) handler interface that Node's bundled undici calls natively. */
export interface Handler {
  onConnect(abort: (reason?: unknown) => void): void;
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: unknown): void;
  onError(error: Error): void;
}

/** What a hop forwards to: its exchange. */
export interface HopSink {
  connect(abort: (reason?: unknown) => void): void;
  headers(hop: Hop, status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  data(chunk: Buffer): boolean;
  complete(): void;
  error(error: Error): void;
}

export class Hop implements Handler {
  readonly #sink: HopSink;
  readonly #timing: ResourceTiming;
  /** A redirect being followed: the rest of this hop (its body) is ignored. */
  followed = false;
  /** Where telemetry wants this request's connection noted (src/dispatch/peers.ts). */
  readonly peer: Peer | undefined;
  /** The total cap's slot this request holds directly, freed when it ends. */
  slots: Slots | undefined = undefined;

  constructor(sink: HopSink, peer: Peer | undefined, timing: ResourceTiming) {
    this.#sink = sink;
    this.peer = peer;
    this.#timing = timing;
  }
  onConnect(abort: (reason?: unknown) => void): void {
    this.#sink.connect(abort);
  }
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    return this.#sink.headers(this, status, rawHeaders, resume, statusText);
  }
  onData(chunk: Buffer): boolean {
    // Every hop's bytes, a redirect's included, as fetch counts `encodedBodySize`.
    this.#timing.encodedBodySize += chunk.length;
    return this.followed || this.#sink.data(chunk);
  }
  onResponseStarted(): void {
    this.#timing.finalNetworkResponseStartTime = performance.now();
  }
  onComplete(): void {
    this.#release();
    if (!this.followed) this.#sink.complete();
  }
  onError(error: Error): void {
    this.#release();
    if (!this.followed) this.#sink.error(error);
  }
  onUpgrade(): void {
    this.#release();
  }
  #release(): void {
    const slots = this.slots;
    if (slots === undefined) return;
    this.slots = undefined;
    slots.release();
  }
}
