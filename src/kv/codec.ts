/**
 * The wire form of a {@link KvEnvelope} inside a Normal log entry: a compact CBOR
 * array, versioned by its first element. Decoding validates every field, so garbage
 * in the log becomes a clear `RaftkvError`, never a crash or a half-built command.
 *
 * Layout: `[ENVELOPE_FORMAT, nowMs, idempotencyKey | null, opcode, ...arguments]`
 * - put:          `1, key, value, ttlMs | null, ifModRevision | null, createOnly`
 * - delete:       `2, key, ifModRevision | null`
 * - deletePrefix: `3, prefix`
 * - expire:       `4`
 *
 * @module
 */

import { Encoder } from "cbor-x";
import { RaftkvError } from "../errors.ts";
import type { KvCommand, KvEnvelope } from "./types.ts";
import {
  DEFAULT_KV_LIMITS,
  ENVELOPE_OVERHEAD_BYTES,
  type KvLimits,
  validateIdempotencyKey,
  validateKey,
  validatePrefix,
  validateTtlMs,
  validateValue,
} from "./limits.ts";

/** Version tag of the envelope layout; bump it when the layout changes. */
export const ENVELOPE_FORMAT = 1;

const OP_PUT = 1;
const OP_DELETE = 2;
const OP_DELETE_PREFIX = 3;
const OP_EXPIRE = 4;

// Plain byte strings (no typed-array tag) and plain arrays (no record extension) keep
// the format readable by any CBOR decoder.
const cbor = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: true });

/** Largest envelope `apply` will decode for the given limits. */
export function maxEnvelopeBytes(limits: KvLimits = DEFAULT_KV_LIMITS): number {
  return limits.maxKeyBytes + limits.maxValueBytes + ENVELOPE_OVERHEAD_BYTES;
}

/** Encodes an envelope for a log entry. Throws `bad_request` / `too_large` if invalid. */
export function encodeEnvelope(env: KvEnvelope, limits: KvLimits = DEFAULT_KV_LIMITS): Uint8Array {
  const wire = toWire(env);
  checkEnvelope(wire, limits);
  // cbor-x returns a view on its reusable buffer: copy so the caller owns the bytes.
  return new Uint8Array(cbor.encode(wire));
}

/**
 * Decodes and validates an envelope. Throws `RaftkvError` (`bad_request` for malformed
 * input, `too_large` for input over `limits`); never returns a partly valid command.
 */
export function decodeEnvelope(
  bytes: Uint8Array,
  limits: KvLimits = DEFAULT_KV_LIMITS,
): KvEnvelope {
  if (!(bytes instanceof Uint8Array)) {
    throw new RaftkvError("bad_request", "envelope must be bytes");
  }
  if (bytes.byteLength > maxEnvelopeBytes(limits)) {
    throw new RaftkvError("too_large", `envelope is ${bytes.byteLength} bytes`);
  }
  let wire: unknown;
  try {
    wire = cbor.decode(bytes);
  } catch (error) {
    throw new RaftkvError("bad_request", `malformed envelope: not CBOR (${describe(error)})`);
  }
  return checkEnvelope(wire, limits);
}

function toWire(env: KvEnvelope): unknown[] {
  const head = [ENVELOPE_FORMAT, env.nowMs, env.idempotencyKey];
  const c = env.command;
  switch (c.op) {
    case "put":
      return [...head, OP_PUT, c.key, c.value, c.ttlMs, c.ifModRevision, c.createOnly];
    case "delete":
      return [...head, OP_DELETE, c.key, c.ifModRevision];
    case "deletePrefix":
      return [...head, OP_DELETE_PREFIX, c.prefix];
    case "expire":
      return [...head, OP_EXPIRE];
  }
  throw new RaftkvError("bad_request", `malformed envelope: unknown op`);
}

/** Validates the wire array and builds a fresh envelope holding only known fields. */
function checkEnvelope(wire: unknown, limits: KvLimits): KvEnvelope {
  if (!Array.isArray(wire) || wire.length < 4) malformed("expected an array of at least 4");
  const [format, nowMs, idempotencyKey, opcode] = wire;
  if (format !== ENVELOPE_FORMAT) malformed(`unknown format ${String(format)}`);
  if (!isRevisionLike(nowMs)) malformed("nowMs must be a non-negative integer");
  if (idempotencyKey !== null) validateIdempotencyKey(idempotencyKey);
  const command = checkCommand(opcode, wire.slice(4), limits);
  return { command, idempotencyKey: idempotencyKey as string | null, nowMs: nowMs as number };
}

function checkCommand(opcode: unknown, args: unknown[], limits: KvLimits): KvCommand {
  switch (opcode) {
    case OP_PUT: {
      expectArity("put", args, 5);
      const [key, value, ttlMs, ifModRevision, createOnly] = args;
      validateKey(key, limits.maxKeyBytes);
      validateValue(value, limits.maxValueBytes);
      validateTtlMs(ttlMs);
      checkIfModRevision(ifModRevision);
      if (typeof createOnly !== "boolean") malformed("createOnly must be a boolean");
      return {
        op: "put",
        key: key as string,
        // A plain copy: decoded bytes may be a view on a large shared buffer.
        value: new Uint8Array(value as Uint8Array),
        ttlMs: ttlMs as number | null,
        ifModRevision: ifModRevision as number | null,
        createOnly,
      };
    }
    case OP_DELETE: {
      expectArity("delete", args, 2);
      const [key, ifModRevision] = args;
      validateKey(key, limits.maxKeyBytes);
      checkIfModRevision(ifModRevision);
      return { op: "delete", key: key as string, ifModRevision: ifModRevision as number | null };
    }
    case OP_DELETE_PREFIX: {
      expectArity("deletePrefix", args, 1);
      validatePrefix(args[0], limits.maxKeyBytes);
      return { op: "deletePrefix", prefix: args[0] as string };
    }
    case OP_EXPIRE:
      expectArity("expire", args, 0);
      return { op: "expire" };
  }
  return malformed(`unknown opcode ${String(opcode)}`);
}

function expectArity(op: string, args: unknown[], count: number): void {
  if (args.length !== count) malformed(`${op} takes ${count} arguments, got ${args.length}`);
}

function checkIfModRevision(value: unknown): void {
  if (value !== null && !isRevisionLike(value)) {
    malformed("ifModRevision must be null or a non-negative integer");
  }
}

function isRevisionLike(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function malformed(reason: string): never {
  throw new RaftkvError("bad_request", `malformed envelope: ${reason}`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
