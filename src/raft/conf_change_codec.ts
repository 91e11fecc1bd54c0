/**
 * Encoding of {@link ConfChange} as the `data` of a ConfChange log entry: UTF-8 JSON.
 * Pure (TextEncoder/TextDecoder only), so both the core and the host can use it.
 *
 * @module
 */

import type { ConfChange } from "./messages.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const CONF_CHANGE_TYPES: ReadonlySet<string> = new Set([
  "addVoter",
  "addLearner",
  "promote",
  "remove",
]);

/** Encodes a membership change for a ConfChange entry. */
export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify({ type: cc.type, nodeId: cc.nodeId, context: cc.context }));
}

/**
 * Decodes a ConfChange entry's data; returns null when the bytes are not a valid
 * change (such an entry is applied as a no-op by every node alike).
 */
export function decodeConfChange(data: Uint8Array): ConfChange | null {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  if (typeof v !== "object" || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.type !== "string" || !CONF_CHANGE_TYPES.has(o.type)) return null;
  if (typeof o.nodeId !== "string" || o.nodeId.length === 0) return null;
  const context = typeof o.context === "string" ? o.context : "";
  return { type: o.type as ConfChange["type"], nodeId: o.nodeId, context };
}
