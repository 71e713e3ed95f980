/**
 * A caller's `ReadableStream` request body, sent as it is read: undici's core takes an async iterable and
 * writes each chunk once the socket has drained, so the upload is never whole in memory (Node's fetch
 * tees the stream and keeps every chunk). An abort cancels the stream with its reason, as fetch does.
 */
export class Upload {
  readonly #reader: ReadableStreamDefaultReader<unknown>;

  constructor(stream: ReadableStream<unknown>) {
    this.#reader = stream.getReader();
  }

  /** The chunks, as undici's `dispatch` takes a body. */
  chunks(): AsyncIterable<unknown> {
    const reader = this.#reader;
    return (async function* () {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    })();
  }

  cancel(reason: unknown): void {
    this.#reader.cancel(reason).catch(() => {});
  }
}
