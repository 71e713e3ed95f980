/**
 * Decoding a response body as Node's fetch decodes it: gzip, deflate (zlib-wrapped or raw), br and zstd,
 * the last coding applied first, with the same flush modes, and at most five codings.
 */
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';

/** Deflate that is either zlib-wrapped or raw, told apart by the first byte (as fetch does). */
class InflateStream extends Transform {
  #inner: zlib.Inflate | zlib.InflateRaw | undefined;
  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#inner === undefined) {
      if (chunk.length === 0) {
        callback();
        return;
      }
      const inner =
        ((chunk[0] as number) & 15) === 8 ? zlib.createInflate(zlibSync) : zlib.createInflateRaw(zlibSync);
      inner.on('data', (data: Buffer) => this.push(data));
      inner.on('end', () => this.push(null));
      inner.on('error', (error: Error) => this.destroy(error));
      this.#inner = inner;
    }
    this.#inner.write(chunk, encoding, callback);
  }
  override _final(callback: TransformCallback): void {
    this.#inner?.end();
    this.#inner = undefined;
    callback();
  }
}

const zlibSync = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
const zstd = zlib as unknown as {
  createZstdDecompress?: (options: object) => Transform;
  constants: Record<string, number>;
};

/** Where a decoder chain delivers: its output, its end, its error. */
export interface DecodedSink {
  /** Decoded bytes; false to pause the chain. */
  data(chunk: Buffer): boolean;
  end(): void;
  error(error: Error): void;
}

/**
 * A body's decoder chain: written to first, read from last, its output going to `sink`. Writes that
 * fill the first decoder pause undici until it drains; a pull resumes the last one.
 */
export class DecoderChain {
  readonly #first: Transform;
  readonly #last: Transform;
  readonly #all: Transform[];

  constructor(decoders: Transform[], sink: DecodedSink) {
    this.#all = decoders;
    this.#first = decoders[0] as Transform;
    let last = this.#first;
    for (let i = 1; i < decoders.length; i++) last = last.pipe(decoders[i] as Transform);
    this.#last = last;
    for (const decoder of decoders) decoder.on('error', (error: Error) => sink.error(error));
    last.on('data', (data: Buffer) => {
      if (!sink.data(data)) last.pause();
    });
    last.on('end', () => sink.end());
  }

  /** Writes encoded bytes; false when undici must pause until `onDrain` runs. */
  write(chunk: Buffer, onDrain: () => void): boolean {
    if (this.#first.write(chunk)) return true;
    this.#first.once('drain', onDrain);
    return false;
  }

  /** No more encoded bytes: the last decoder's 'end' ends the body. */
  end(): void {
    this.#first.end();
  }

  resume(): void {
    this.#last.resume();
  }

  destroy(): void {
    for (const decoder of this.#all) decoder.destroy();
  }
}

/** The decoders for a content-encoding, the last coding applied first; [] when a coding is unknown. */
export function decodersFor(contentEncoding: string): Transform[] | Error {
  const codings = contentEncoding.toLowerCase().split(',');
  if (codings.length > 5) {
    return new Error(`too many content-encodings in response: ${codings.length}, maximum allowed is 5`);
  }
  const decoders: Transform[] = [];
  for (let i = codings.length - 1; i >= 0; --i) {
    const coding = (codings[i] as string).trim();
    if (coding === 'x-gzip' || coding === 'gzip') decoders.push(zlib.createGunzip(zlibSync));
    else if (coding === 'deflate') decoders.push(new InflateStream());
    else if (coding === 'br') {
      const flush = zlib.constants.BROTLI_OPERATION_FLUSH;
      decoders.push(zlib.createBrotliDecompress({ flush, finishFlush: flush }));
    } else if (coding === 'zstd' && zstd.createZstdDecompress !== undefined) {
      const { ZSTD_e_continue, ZSTD_e_end } = zstd.constants;
      decoders.push(zstd.createZstdDecompress({ flush: ZSTD_e_continue, finishFlush: ZSTD_e_end }));
    } else return [];
  }
  return decoders;
}
