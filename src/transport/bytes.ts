/**
 * The rules for request bodies given as bytes, in one place: fetch copies an `ArrayBuffer` or a view when
 * it is called (so the caller changing them afterwards changes nothing), sends a detached buffer as no
 * bytes, and a shared buffer's bytes as they are when sent.
 */

export type BufferSource = ArrayBuffer | ArrayBufferView | SharedArrayBuffer;

export const isBufferSource = (body: unknown): body is BufferSource =>
  body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof SharedArrayBuffer;

const isDetached = (buffer: ArrayBufferLike): boolean => (buffer as { detached?: boolean }).detached === true;

/** True for a shared buffer or a view of one: its bytes can change until they are sent. */
export const isShared = (body: BufferSource): boolean =>
  body instanceof SharedArrayBuffer || (ArrayBuffer.isView(body) && !(body.buffer instanceof ArrayBuffer));

/** A copy of the bytes, whatever the buffer (shared ones included). */
export function copyBytes(body: BufferSource): Uint8Array<ArrayBuffer> {
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice();
  return new Uint8Array(body).slice();
}

/**
 * The call's own copy of a body, taken when the call is made, as fetch takes it: an `ArrayBuffer` is
 * copied as an `ArrayBuffer`, a view as a `Uint8Array`; a detached or shared buffer, and anything that is
 * not bytes, is returned as it is.
 */
export function snapshotBytes(body: unknown): unknown {
  if (body instanceof ArrayBuffer) return isDetached(body) ? body : body.slice(0);
  if (ArrayBuffer.isView(body) && body.buffer instanceof ArrayBuffer) {
    if (isDetached(body.buffer)) return body;
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice();
  }
  return body;
}

/**
 * The bytes of an unshared buffer as a `Buffer` over the same memory (no copy: the call's own copy was
 * taken by `snapshotBytes`); a detached buffer gives no bytes, as fetch sends it. Undefined for a shared
 * buffer or anything that is not bytes.
 */
export function viewBytes(body: unknown): Buffer | undefined {
  if (body instanceof ArrayBuffer) return isDetached(body) ? Buffer.alloc(0) : Buffer.from(body);
  if (ArrayBuffer.isView(body) && body.buffer instanceof ArrayBuffer) {
    if (isDetached(body.buffer)) return Buffer.alloc(0);
    return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }
  return undefined;
}
