/**
 * A raw HTTP/1.1 client over a TCP socket, for sending what fetch refuses to send
 * (raw bytes in paths, repeated or malformed headers, lying lengths, drip-fed bytes)
 * and reading whatever comes back, under a deadline.
 *
 * @module
 */

/** Largest response this client buffers; bigger answers are cut (tests never need them). */
export const MAX_RAW_RESPONSE_BYTES = 4 * 1024 * 1024;

/** A parsed response: status, lower-cased headers, body (chunked encoding undone). */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: Uint8Array;
}

/** What a raw exchange ended with. */
export type RawOutcome =
  | { kind: "response"; response: RawResponse }
  | { kind: "closed"; received: number } // the server hung up without a full answer
  | { kind: "timeout"; received: number };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Options of {@link rawExchange}. */
export interface RawOptions {
  /** Deadline of the whole exchange. */
  timeoutMs: number;
  /** Return once the headers are in (streams: SSE never ends by itself). */
  headersOnly?: boolean;
}

/**
 * Connects to 127.0.0.1:`port`, writes `request`, reads one response, and closes the
 * socket (abruptly: no half-close, as a client that simply goes away).
 */
export async function rawExchange(
  port: number,
  request: string | Uint8Array,
  options: RawOptions,
): Promise<RawOutcome> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const deadline = Date.now() + options.timeoutMs;
  try {
    const bytes = typeof request === "string" ? encoder.encode(request) : request;
    // A server may answer and close before taking the whole request: that is fine.
    void writeAll(conn, bytes).catch(() => {});
    return await readResponse(conn, deadline, options.headersOnly ?? false);
  } finally {
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

/** Writes all of `bytes`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Reads one response from `conn` until complete, closed, or `deadline` (epoch ms). */
export async function readResponse(
  conn: Deno.Conn,
  deadline: number,
  headersOnly: boolean,
): Promise<RawOutcome> {
  const buffer = new Uint8Array(MAX_RAW_RESPONSE_BYTES);
  let length = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
  });
  try {
    for (;;) {
      const parsed = parse(buffer.subarray(0, length), headersOnly);
      if (parsed !== null) return { kind: "response", response: parsed };
      if (length === buffer.length) return { kind: "closed", received: length };
      const read = await Promise.race([conn.read(buffer.subarray(length)), expired])
        .catch(() => null);
      if (read === "timeout") return { kind: "timeout", received: length };
      if (read === null) {
        const partial = parse(buffer.subarray(0, length), headersOnly, true);
        return partial === null
          ? { kind: "closed", received: length }
          : { kind: "response", response: partial };
      }
      length += read;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** A complete response in `bytes`, or null when more is needed. */
function parse(bytes: Uint8Array, headersOnly: boolean, closed = false): RawResponse | null {
  const text = decoder.decode(bytes.subarray(0, Math.min(bytes.length, 64 * 1024)));
  const end = text.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const head = text.slice(0, end).split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "")?.[1] ?? NaN);
  if (!Number.isInteger(status)) return null;
  const headers = new Map<string, string>();
  for (const line of head.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  const bodyStart = encoder.encode(text.slice(0, end + 4)).length;
  const rest = bytes.subarray(bodyStart);
  // An interim answer (100 Continue) precedes the real one.
  if (status < 200) return parse(rest, headersOnly, closed);
  if (headersOnly) return { status, headers, body: new Uint8Array(0) };
  const declared = headers.get("content-length");
  if (declared !== undefined) {
    const n = Number(declared);
    return rest.length >= n ? { status, headers, body: rest.slice(0, n) } : null;
  }
  if (headers.get("transfer-encoding")?.includes("chunked")) return unchunk(rest, status, headers);
  return closed ? { status, headers, body: rest.slice() } : null;
}

function unchunk(rest: Uint8Array, status: number, headers: Map<string, string>) {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (;;) {
    const lineEnd = indexOfCrlf(rest, offset);
    if (lineEnd < 0) return null;
    const size = parseInt(decoder.decode(rest.subarray(offset, lineEnd)), 16);
    if (!Number.isInteger(size)) return null;
    const start = lineEnd + 2;
    if (size === 0) {
      const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const part of parts) {
        body.set(part, at);
        at += part.length;
      }
      return { status, headers, body };
    }
    if (rest.length < start + size + 2) return null;
    parts.push(rest.subarray(start, start + size));
    offset = start + size + 2;
  }
}

function indexOfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  }
  return -1;
}

/** The body as text. */
export function bodyText(response: RawResponse): string {
  return decoder.decode(response.body);
}

/**
 * True when `response` is the project's error shape: JSON `{error:{code,message}}`
 * with string code and message.
 */
export function isJsonError(response: RawResponse): boolean {
  if (!(response.headers.get("content-type") ?? "").includes("application/json")) return false;
  try {
    const body: unknown = JSON.parse(bodyText(response));
    if (typeof body !== "object" || body === null || !("error" in body)) return false;
    const error: unknown = body.error;
    return typeof error === "object" && error !== null && "code" in error &&
      typeof error.code === "string" && "message" in error && typeof error.message === "string";
  } catch {
    return false;
  }
}

/**
 * True when `response` came from the runtime's HTTP parser (Deno.serve/hyper refusing
 * a malformed request before any handler ran): an empty body and no header the app
 * sets on every answer.
 */
export function isRuntimeRefusal(response: RawResponse, appHeader: string): boolean {
  return !response.headers.has(appHeader.toLowerCase()) && response.body.length === 0;
}

/** What {@link floodBody} saw: bytes the socket took, and the server's answer. */
export interface FloodResult {
  /** Body bytes (with any chunk framing) the client wrote before the server hung up. */
  writtenBytes: number;
  outcome: RawOutcome;
}

/**
 * Sends `head` (a request head ending in a blank line) and then up to `totalBytes` of
 * body in 64 KiB pieces (chunk-framed when `chunked`), as fast as the socket takes
 * them, until the server hangs up or stops reading for `stallMs`.
 */
export async function floodBody(
  port: number,
  head: string,
  totalBytes: number,
  options: { chunked: boolean; stallMs?: number },
): Promise<FloodResult> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const piece = new Uint8Array(64 * 1024).fill(0x61);
  const framed = options.chunked
    ? new Uint8Array([
      ...encoder.encode(`${piece.length.toString(16)}\r\n`),
      ...piece,
      ...encoder.encode("\r\n"),
    ])
    : piece;
  const answer = readResponse(conn, Date.now() + 30_000, false);
  let writtenBytes = 0;
  try {
    await writeAll(conn, encoder.encode(head));
    while (writtenBytes < totalBytes) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const step = await Promise.race([
        writeAll(conn, framed).then(() => "ok" as const, () => "refused" as const),
        new Promise<"stalled">((resolve) => {
          timer = setTimeout(() => resolve("stalled"), options.stallMs ?? 2000);
        }),
      ]);
      clearTimeout(timer);
      if (step !== "ok") break;
      writtenBytes += framed.length;
    }
    return { writtenBytes, outcome: await answer };
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** The byte count a 413 reports having read ("is at least N bytes"), or null. */
export function bytesReadBeforeRefusal(response: RawResponse): number | null {
  const match = /is at least (\d+) bytes/.exec(bodyText(response));
  return match?.[1] === undefined ? null : Number(match[1]);
}
