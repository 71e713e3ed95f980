/**
 * One exchange of the fast transport: its hops (the request, then each redirect it follows), the promise
 * of its Response, then the Response's body, fed from undici's callbacks into a byte stream (decoded
 * when the response is encoded), with back-pressure, aborts and garbage collection handled as Node's
 * fetch handles them: a rejection with the signal's reason before the headers, the body erroring with it
 * after; `TypeError('fetch failed', { cause })` before the headers, `TypeError('terminated', { cause })`
 * for a body cut short.
 */
import { fetchFailed } from '../../errors.ts';
import { meterOf, type ResponseMeter } from '../response-limit.ts';
import { BodyWatch } from './body-watch.ts';
import { DecoderChain, decodersFor } from './decode.ts';
import { Hop, type HopSink } from './hop.ts';
import { type Dispatcher, dispatchOptions, type Plan } from './plan.ts';
import { followRedirect } from './redirect.ts';
import {
  adopt,
  cancelUnclaimed,
  createResponse,
  nullBodyStatuses,
  readHeaders,
  redirectStatuses,
  urlWithoutFragment,
} from './response.ts';
import { hubOf, type SignalHub } from './signal-hub.ts';
import { Upload } from './upload.ts';

/** How many body bytes the stream queues before undici is paused. */
const bodyHighWaterMark = 65_536;

/** One exchange: its hops (redirects), the promise of its Response, then the Response's body. */
export class Exchange implements HopSink {
  readonly #plan: Plan;
  // Dropped once the promise is settled: the promise holds the Response, and this exchange lives as long
  // as the body does, so keeping them would keep an unread Response from ever being collected.
  #resolve: ((response: Response) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  /** Aborts the hop in flight (from undici's onConnect). */
  #abort: ((reason?: unknown) => void) | undefined;
  /** The promise is settled (resolved with the Response, or rejected). */
  #settled = false;
  /** Nothing more to do: the body ended, failed, was cancelled, or the call was aborted. */
  #done = false;
  #controller: ReadableByteStreamController | undefined;
  #resume: (() => void) | undefined;
  #paused = false;
  /** The decoders of an encoded body: written to first, read from last. */
  #decoders: DecoderChain | undefined;
  /** A body nobody sees (HEAD, null-body status): its bytes are read and dropped. */
  #dump = false;
  /** The caller's signal's hub, while this exchange listens to it. */
  #hub: SignalHub | undefined;
  /** Cancels the body once its Response is garbage-collected (see `body-watch.ts`). */
  readonly #watch = new BodyWatch();
  /** Counts the body against the call's response limits, when it has any. */
  #meter: ResponseMeter | undefined;
  /** Every byte arrived; the body closes once the reader has taken the queued ones (see `#close`). */
  #closing = false;
  /** The status the Response was given (0 until then): its timing entry is marked with it. */
  #status = 0;
  /** The reader of a stream body being sent: an abort cancels it with the reason, as fetch does. */
  #upload: Upload | undefined;
  /** The body's stream, for the garbage-collection rule (see `collected`). */
  #stream: ReadableStream<Uint8Array> | undefined;
  /** Why the exchange was aborted, for a hop that connects after that. */
  #reason: unknown = undefined;

  readonly #sent: { fast: number };

  constructor(
    plan: Plan,
    sent: { fast: number },
    resolve: (response: Response) => void,
    reject: (error: unknown) => void,
  ) {
    this.#plan = plan;
    this.#sent = sent;
    this.#resolve = resolve;
    this.#reject = reject;
    if (plan.signal !== undefined) {
      this.#hub = hubOf(plan.signal);
      this.#hub.join(this);
    }
    plan.abort?.listen((reason) => this.aborted(reason));
  }

  send(): void {
    if (this.#done) return;
    const plan = this.#plan;
    this.#abort = undefined;
    this.#sent.fast++;
    const hop = new Hop(this, plan.peer, plan.timing);
    // Under the total cap, a free slot is taken here and freed by the hop itself (no wrapping handler);
    // otherwise the cap's dispatcher queues the request.
    const slots = plan.dispatcher.slots;
    let dispatcher: Pick<Dispatcher, 'dispatch'> = plan.dispatcher;
    if (slots?.tryAcquire()) {
      hop.slots = slots;
      dispatcher = slots.inner as Pick<Dispatcher, 'dispatch'>;
    }
    try {
      dispatcher.dispatch(dispatchOptions(plan, this.#bodyToSend()), hop);
    } catch (error) {
      hop.onError(error as Error);
    }
  }

  /** The hop's body: none, the bytes, or the caller's stream, read as undici writes it. */
  #bodyToSend(): Buffer | AsyncIterable<unknown> | null {
    const body = this.#plan.body;
    if (body === null) return null;
    if (body.stream === undefined) return body.bytes;
    this.#upload = new Upload(body.stream);
    return this.#upload.chunks();
  }

  connect(abort: (reason?: unknown) => void): void {
    this.#plan.timing.requestSent();
    if (this.#done) abort(this.#reason);
    else this.#abort = abort;
  }

  headers(hop: Hop, status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return false; // 1xx (103 Early Hints): the final response follows
    const { list, location, encoding } = readHeaders(rawHeaders);
    if (location !== undefined && redirectStatuses.has(status)) {
      hop.followed = true;
      this.#redirect(status, location);
      return true;
    }
    let body: ReadableStream<Uint8Array> | null = null;
    if (this.#plan.method === 'HEAD' || nullBodyStatuses.has(status)) this.#dump = true;
    else {
      if (this.#plan.limits !== undefined) {
        const meter = meterOf(this.#plan.limits, list, this.#plan.timing);
        if (meter instanceof Error) {
          this.#fail(fetchFailed(meter));
          return true;
        }
        this.#meter = meter;
      }
      if (encoding !== undefined && !this.#decodeAs(encoding)) return true;
      this.#resume = resume;
      body = this.#stream = this.#openBody();
    }
    let response: Response;
    try {
      response = createResponse(body, status, statusText, list);
    } catch (error) {
      this.#fail(fetchFailed(error));
      return true;
    }
    this.#status = status;
    this.#respond(response);
    return true;
  }

  data(chunk: Buffer): boolean {
    if (this.#dump || this.#done) return true;
    const decoders = this.#decoders;
    if (decoders === undefined) return this.#enqueue(chunk);
    if (decoders.write(chunk, () => this.#pull())) return true;
    this.#paused = true;
    return false;
  }

  complete(): void {
    if (this.#done) return;
    if (this.#decoders !== undefined) {
      this.#decoders.end(); // the last decoder's 'end' closes the body
      return;
    }
    this.#done = true;
    this.#close();
  }

  error(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#decoders?.destroy();
    if (!this.#settled) this.#fail(fetchFailed(error));
    else this.#errorBody(new TypeError('terminated', { cause: error }));
  }

  /** The body's stream: bytes go in from `#enqueue`, the reader's pulls resume undici. */
  #openBody(): ReadableStream<Uint8Array> {
    return new ReadableStream(
      {
        type: 'bytes',
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#pull(),
        cancel: (reason) => this.#cancel(reason),
      },
      { highWaterMark: bodyHighWaterMark },
    );
  }

  /** Resolves the call with its Response, which gets fetch's `url`, `redirected` and `type`. */
  #respond(response: Response): void {
    const plan = this.#plan;
    adopt(response, urlWithoutFragment(plan.url), plan.redirects > 0, plan.cors ? 'cors' : 'basic');
    this.#settled = true;
    if (this.#dump) this.#finished();
    else this.#watch.soon(response, this);
    const resolve = this.#resolve;
    this.#resolve = this.#reject = undefined;
    resolve?.(response);
  }

  /** Enqueues body bytes; false (pause) when the stream's queue is full. */
  #enqueue(chunk: Buffer): boolean {
    const controller = this.#controller;
    if (controller === undefined) return true;
    if (this.#meter?.admit(chunk.byteLength) === false) return this.#tooLarge(this.#meter);
    // A copy: undici's chunk may share its memory, and a byte stream takes over the buffer it is given.
    if (chunk.byteLength > 0) controller.enqueue(new Uint8Array(chunk));
    this.#plan.timing.decodedBodySize += chunk.byteLength;
    if ((controller.desiredSize ?? 0) > 0) return true;
    this.#paused = true;
    return false;
  }

  #pull(): void {
    if (this.#closing) {
      // The reader has taken every byte: the body ends, a microtask later, as fetch's body ends on the
      // read that finds nothing more (an abort made right after that read still errors it).
      if ((this.#controller?.desiredSize ?? 0) >= bodyHighWaterMark) {
        queueMicrotask(() => {
          if (this.#closing) this.#closeNow();
        });
      }
      return;
    }
    if (!this.#paused || this.#done) return;
    this.#paused = false;
    this.#decoders?.resume();
    this.#resume?.();
  }

  /** Past a response limit while reading: the connection is dropped, the body errors (`terminated`). */
  #tooLarge(meter: ResponseMeter): false {
    this.#done = true;
    this.#abort?.(meter.error);
    this.#decoders?.destroy();
    this.#errorBody(new TypeError('terminated', { cause: meter.error }));
    return false;
  }

  /** Sets up the decoders of a content-encoding; false when the call failed (too many codings). */
  #decodeAs(encoding: string): boolean {
    const decoders = decodersFor(encoding);
    if (decoders instanceof Error) {
      this.#fail(fetchFailed(decoders));
      return false;
    }
    if (decoders.length === 0) return true;
    this.#decoders = new DecoderChain(decoders, {
      data: (chunk) => this.#enqueue(chunk),
      end: () => {
        if (this.#done) return;
        this.#done = true;
        this.#close();
      },
      error: (error) => {
        if (this.#done) return;
        this.#done = true;
        this.#abort?.(error);
        this.#decoders?.destroy();
        this.#errorBody(new TypeError('terminated', { cause: error }));
      },
    });
    return true;
  }

  #redirect(status: number, location: string): void {
    const refused = followRedirect(this.#plan, status, location);
    if (refused !== undefined) {
      this.#fail(refused);
      return;
    }
    // The redirect's own body finishes on its connection, ignored (its hop is `followed`).
    queueMicrotask(() => this.send());
  }

  /**
   * Every byte has arrived. The body closes now, unless the call has a signal and bytes are still
   * queued: then it closes once the reader has taken them (`#pull`), and until then the exchange stays
   * with the signal's hub, so that an abort errors the unread body (as fetch errors it) and a body read
   * to its end leaves nothing listening on the caller's signal.
   */
  #close(): void {
    const controller = this.#controller;
    if (
      this.#hub !== undefined &&
      controller !== undefined &&
      (controller.desiredSize ?? 0) < bodyHighWaterMark
    ) {
      this.#closing = true;
      return;
    }
    this.#closeNow();
  }

  #closeNow(): void {
    this.#watch.stop();
    try {
      this.#controller?.close();
      this.#controller?.byobRequest?.respond(0);
    } catch {
      // The reader cancelled the body first.
    }
    this.#finished();
  }

  /**
   * The body is finished with (read to its end, cancelled, errored) or there is none: nothing of it is
   * watched any more, and fetch's timing entry is marked.
   */
  #finished(): void {
    this.#closing = false;
    this.#detach();
    this.#watch.stop();
    if (this.#status !== 0) this.#plan.timing.mark(this.#plan.requestedHref, this.#status);
  }

  #errorBody(error: unknown): void {
    this.#finished();
    try {
      this.#controller?.error(error);
    } catch {
      // Already closed.
    }
  }

  /** Rejects the call (before its Response) and ends the hop in flight. */
  #fail(error: unknown): void {
    this.#done = true;
    this.#decoders?.destroy();
    this.#abort?.(error);
    this.#detach();
    if (!this.#settled) this.#rejectWith(error);
  }

  /** Settles the promise with a rejection; the settle functions are dropped (see `#resolve`). */
  #rejectWith(error: unknown): void {
    this.#settled = true;
    const reject = this.#reject;
    this.#resolve = this.#reject = undefined;
    reject?.(error);
  }

  /** A body still arriving, or arrived but not yet read (see `#close`). */
  get bodyOpen(): boolean {
    return !this.#done || this.#closing;
  }

  /** Its Response was garbage-collected before the body ended (see `body-watch.ts`). */
  collected(): void {
    const reason = new DOMException('Response object has been garbage collected', 'AbortError');
    // Through the stream (which runs our cancel), by fetch's rule; a null body has none to cancel.
    if (this.#stream === undefined) this.#cancel(reason);
    else cancelUnclaimed(this.#stream, reason);
  }

  /** The reader cancelled the body: the connection is ended, as fetch ends it. */
  #cancel(reason: unknown): void {
    this.#finished();
    if (this.#done) return;
    this.#done = true;
    this.#decoders?.destroy();
    this.#abort?.(reason ?? new DOMException('The operation was aborted.', 'AbortError'));
  }

  /** The caller's signal or the attempt aborted: a rejection with its reason, or the body errors with it. */
  aborted(reason: unknown): void {
    this.#upload?.cancel(reason);
    if (this.#closing) {
      // Arrived whole, not yet read: the body errors, as fetch errors it.
      this.#errorBody(reason);
      return;
    }
    if (this.#done) return;
    this.#done = true;
    this.#reason = reason;
    this.#detach();
    this.#abort?.(reason);
    this.#decoders?.destroy();
    if (!this.#settled) this.#rejectWith(reason);
    else this.#errorBody(reason);
  }

  #detach(): void {
    this.#hub?.leave(this);
    this.#hub = undefined;
    this.#plan.abort?.listen(undefined);
  }
}
