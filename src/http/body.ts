/**
 * Reading a request body under a byte limit: refused from Content-Length before any
 * byte is read, and cut off while reading when a chunked body runs over.
 *
 * @module
 */

import { RaftkvError } from "../errors.ts";

/** Reads the whole body of `request`, or throws too_large past `maxBytes`. */
export async function readBodyLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    const length = Number(declared);
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new RaftkvError("bad_request", "Content-Length is not a valid length");
    }
    if (length > maxBytes) throw tooLarge(length, maxBytes);
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Stop the sender now rather than buffering the rest of an oversized body.
      await reader.cancel().catch(() => {});
      throw tooLarge(total, maxBytes);
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

function tooLarge(bytes: number, maxBytes: number): RaftkvError {
  return new RaftkvError("too_large", `value is at least ${bytes} bytes; the limit is ${maxBytes}`);
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
