/**
 * Value bytes in and out: UTF-8 for strings, base64 for JSON-carried binary values.
 *
 * @module
 */

import { BadRequest } from "./errors.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes to send for a value given as text or bytes. */
export function toBytes(value: string | Uint8Array): Uint8Array<ArrayBuffer> {
  if (typeof value === "string") return encoder.encode(value);
  // A copy backed by a plain ArrayBuffer: every runtime's fetch accepts it as a body,
  // and the caller may reuse its buffer while retries are still sending ours.
  return new Uint8Array(value);
}

/** UTF-8 text of `bytes`; invalid sequences become U+FFFD. */
export function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Decodes a JSON-carried value: UTF-8 text, or base64 when `encoding` says so. */
export function decodeValue(value: string, encoding: unknown): Uint8Array {
  if (encoding === undefined || encoding === null) return encoder.encode(value);
  if (encoding !== "base64") {
    throw new BadRequest(`unknown value encoding ${JSON.stringify(encoding)}`, { status: 0 });
  }
  let binary: string;
  try {
    binary = atob(value);
  } catch (cause) {
    throw new BadRequest("the server sent a value that is not valid base64", { status: 0, cause });
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
