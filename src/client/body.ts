/**
 * Reading answers with a size bound, so a misbehaving server or proxy cannot make the
 * client buffer without limit.
 *
 * @module
 */

import { RaftkvClientError } from "./errors.ts";

/** Reads the whole body, failing once it passes `maxBytes`. */
export async function readBytes(response: Response, maxBytes: number): Promise<Uint8Array> {
  if (response.body === null) return new Uint8Array(0);
  const declared = Number(response.headers.get("Content-Length") ?? "NaN");
  if (declared > maxBytes) {
    await response.body.cancel().catch(() => {});
    throw tooLarge(maxBytes, response.status);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) throw tooLarge(maxBytes, response.status);
      chunks.push(value);
    }
  } catch (error) {
    await reader.cancel().catch(() => {});
    throw error;
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** Reads and parses a JSON body of at most `maxBytes`. */
export async function readJson(response: Response, maxBytes: number): Promise<unknown> {
  const bytes = await readBytes(response, maxBytes);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new RaftkvClientError("internal", "the server sent malformed JSON", {
      status: response.status,
      cause,
    });
  }
}

/** Discards a body we will not read, so its connection can be reused or closed. */
export async function discard(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => {});
}

function tooLarge(maxBytes: number, status: number): RaftkvClientError {
  return new RaftkvClientError("too_large", `the answer is larger than ${maxBytes} bytes`, {
    status,
  });
}
