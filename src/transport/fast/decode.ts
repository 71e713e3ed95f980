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
