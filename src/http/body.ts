/**
 * Reading a request body under a byte limit and a deadline: refused from
 * Content-Length before any byte is read, cut off while reading when a chunked body
 * runs over, and abandoned when the sender is too slow (a slow-loris body would
 * otherwise hold its buffers and its request slot for as long as it likes).
 *
 * Every failure is a {@link RaftkvError}: a body that cannot be read (a broken chunked
 * encoding, a connection reset halfway) is the client's fault, never a 500.
 *
 * How a refused body is left matters (measured on Deno 2.9.6, tests/http/hostile_test.ts):
 * a body that is cancelled, or never read at all, is *drained* by Deno.serve after the
 * answer, at line rate and without bound (1 GiB in 2.7 s on loopback). A body that has
 * been read from and is then merely released is not: the runtime stops reading the
 * socket, answers with `connection: close`, and the sender stalls on full TCP buffers.
 *
 * @module
 */

import { invariant } from "./invariant.ts";
import { RaftkvError } from "../errors.ts";
import { deadlinesOf } from "./deadlines.ts";

/**
 * Longest time a whole request body may take to arrive, in milliseconds. A client
 * sending 1 MiB (the default value limit) must average ≥ 100 KiB/s; a drip-fed body is
 * cut off here instead of pinning memory and a connection indefinitely.
 */
export const BODY_READ_TIMEOUT_MS = 10_000;

/** What {@link readBodyLimited} may be told besides the byte limit. */
export interface ReadBodyOptions {
  /** Deadline of the whole read; defaults to {@link BODY_READ_TIMEOUT_MS}. */
  timeoutMs?: number;
}

/**
 * Reads the whole body of `request`: throws too_large past `maxBytes` (from
 * Content-Length before reading, or as soon as the running total passes it), and
 * bad_request when the body takes longer than the deadline or cannot be read.
 */
export async function readBodyLimited(
  request: Request,
  maxBytes: number,
  options: ReadBodyOptions = {},
): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? BODY_READ_TIMEOUT_MS;
  invariant(Number.isSafeInteger(maxBytes) && maxBytes >= 0, "maxBytes is a byte count");
  invariant(timeoutMs > 0, "the body deadline is positive");
  const declared = declaredLength(request.headers.get("content-length"));
  if (declared !== null && declared > maxBytes) {
    await stopBeforeReading(request);
    throw tooLarge(declared, maxBytes, "is");
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let expired = false;
  // Releasing the reader makes a pending read reject: that is how a slow body is cut
  // off without a timer and a race per request.
  const deadline = deadlinesOf(timeoutMs).add(() => {
    expired = true;
    releaseQuietly(reader);
  });
  try {
    for (;;) {
      const step = await reader.read().catch((thrown) => {
        if (expired) throw tooSlow(total, timeoutMs);
        return unreadable(thrown);
      });
      if (step.done) break;
      total += step.value.byteLength;
      if (total > maxBytes) throw tooLarge(total, maxBytes, "is at least");
      chunks.push(step.value);
    }
  } catch (thrown) {
    // Released, not cancelled: a cancelled body is drained to its end by the runtime.
    releaseQuietly(reader);
    throw thrown;
  } finally {
    deadline.cancel();
  }
  return concat(chunks, total);
}

/**
 * The Content-Length header as a number, or null when absent. Identical repeated
 * values (`5, 5`, which RFC 9110 §8.6 allows a recipient to accept) count as one;
 * anything else that is not one decimal length is refused.
 */
export function declaredLength(header: string | null): number | null {
  if (header === null) return null;
  const values = new Set(header.split(",").map((part) => part.trim()));
  const [only] = values;
  if (values.size !== 1 || only === undefined || !/^[0-9]{1,15}$/.test(only)) {
    throw new RaftkvError("bad_request", "Content-Length is not one valid length");
  }
  const length = Number(only);
  invariant(Number.isSafeInteger(length), "15 decimal digits fit a safe integer");
  return length;
}

/**
 * Longest wait for the first bytes of a body refused from its Content-Length. One read
 * is what keeps the runtime from draining the rest (see the module note); a client
 * that has sent nothing yet by then is not worth waiting for.
 */
export const REFUSED_BODY_PEEK_MS = 100;

/**
 * Leaves a refused body so the runtime will not drain it: reads (and drops) one chunk,
 * then releases it. (`Expect: 100-continue` gives no reason to leave the body alone:
 * Deno.serve answers `100 Continue` by itself before the handler decides.)
 */
async function stopBeforeReading(request: Request): Promise<void> {
  if (request.body === null) return;
  const reader = request.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      reader.read().catch(() => {}),
      new Promise((resolve) => {
        timer = setTimeout(resolve, REFUSED_BODY_PEEK_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    releaseQuietly(reader);
  }
}

function releaseQuietly(reader: ReadableStreamDefaultReader<Uint8Array>): void {
  try {
    reader.releaseLock(); // a pending read, if any, rejects; Promise.race already handled it
  } catch { /* already released */ }
}

function unreadable(thrown: unknown): never {
  const detail = thrown instanceof Error ? thrown.message : String(thrown);
  throw new RaftkvError("bad_request", `the request body could not be read (${detail})`);
}

function tooSlow(received: number, timeoutMs: number): RaftkvError {
  return new RaftkvError(
    "bad_request",
    `the request body did not arrive within ${timeoutMs} ms (${received} bytes received); ` +
      "send it faster or in a smaller request",
  );
}

function tooLarge(bytes: number, maxBytes: number, verb: string): RaftkvError {
  return new RaftkvError(
    "too_large",
    `the request body ${verb} ${bytes} bytes; the limit is ${maxBytes}`,
  );
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
