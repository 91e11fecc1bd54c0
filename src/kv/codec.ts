/**
 * The wire form of a {@link KvEnvelope} inside a Normal log entry: a compact CBOR
 * array, versioned by its first element. Decoding validates every field, so garbage
 * in the log becomes a clear `RaftkvError`, never a crash or a half-built command.
 *
 * Layout: `[ENVELOPE_FORMAT, nowMs, idempotencyKey | null, opcode, ...arguments]`
 * - put:          `1, key, value, ttlMs | null, ifModRevision | null, createOnly[, lease]`
 *   (the lease argument is written only when set, so lease-free puts keep the old bytes)
 * - delete:       `2, key, ifModRevision | null`
 * - deletePrefix: `3, prefix`
 * - expire:       `4`
 * - leaseGrant:   `5, ttlMs`
 * - leaseKeepalive: `6, [leaseId, ...]`
 * - leaseRevoke:  `7, leaseId`
 * - txn:          `8, compare, success, failure` (plain CBOR maps, checked by `checkTxn`)
 *
 * @module
 */

import { Encoder } from "cbor-x";
import { RaftkvError } from "../errors.ts";
import type { KvCommand, KvEnvelope } from "./types.ts";
import { canonicalLeaseId, MAX_KEEPALIVE_BATCH_IDS, validateLeaseTtlMs } from "./leases.ts";
import { checkTxn } from "./txn.ts";
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
const OP_LEASE_GRANT = 5;
const OP_LEASE_KEEPALIVE = 6;
const OP_LEASE_REVOKE = 7;
const OP_TXN = 8;

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
  // Checks only: the envelope built (and the value copied) by a decode is not needed here.
  checkEnvelope(wire, limits, false);
  // cbor-x returns a view on its reusable buffer: copy so the caller owns the bytes.
  const bytes = new Uint8Array(cbor.encode(wire));
  // A transaction of many values may outgrow what apply decodes: refuse it here, once.
  if (bytes.byteLength > maxEnvelopeBytes(limits)) {
    throw new RaftkvError(
      "too_large",
      `the change is ${bytes.byteLength} bytes encoded; the limit is ${maxEnvelopeBytes(limits)}`,
    );
  }
  return bytes;
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
  return checkEnvelope(wire, limits, true);
}

function toWire(env: KvEnvelope): unknown[] {
  const head = [ENVELOPE_FORMAT, env.nowMs, env.idempotencyKey];
  const c = env.command;
  switch (c.op) {
    case "put": {
      const { nowMs, idempotencyKey } = env;
      // Written out, not spread: this runs for every write. The lease goes last, and only
      // when set, so a put without one encodes as it did before leases existed.
      const fields: unknown[] = [
        ENVELOPE_FORMAT,
        nowMs,
        idempotencyKey,
        OP_PUT,
        c.key,
        c.value,
        c.ttlMs,
        c.ifModRevision,
        c.createOnly,
      ];
      if (c.lease !== undefined && c.lease !== null) fields.push(c.lease);
      return fields;
    }
    case "delete":
      return [...head, OP_DELETE, c.key, c.ifModRevision];
    case "deletePrefix":
      return [...head, OP_DELETE_PREFIX, c.prefix];
    case "expire":
      return [...head, OP_EXPIRE];
    case "leaseGrant":
      return [...head, OP_LEASE_GRANT, c.ttlMs];
    case "leaseKeepalive":
      return [...head, OP_LEASE_KEEPALIVE, c.ids];
    case "leaseRevoke":
      return [...head, OP_LEASE_REVOKE, c.id];
    case "txn":
      return [...head, OP_TXN, c.txn.compare, c.txn.success, c.txn.failure];
  }
  throw new RaftkvError("bad_request", `malformed envelope: unknown op`);
}

/**
 * Validates the wire array and builds a fresh envelope holding only known fields.
 * `decoded`: the wire came from bytes (copy values out of the shared buffer); false when
 * encoding, where only the checks matter.
 */
function checkEnvelope(wire: unknown, limits: KvLimits, decoded: boolean): KvEnvelope {
  if (!Array.isArray(wire) || wire.length < 4) malformed("expected an array of at least 4");
  const format = wire[0], nowMs = wire[1], idempotencyKey = wire[2], opcode = wire[3];
  if (format !== ENVELOPE_FORMAT) malformed(`unknown format ${String(format)}`);
  if (!isRevisionLike(nowMs)) malformed("nowMs must be a non-negative integer");
  if (idempotencyKey !== null) validateIdempotencyKey(idempotencyKey);
  // Puts are nearly every entry: checked in place, without slicing the arguments out.
  const command = opcode === OP_PUT
    ? checkPut(wire, limits, decoded)
    : checkCommand(opcode, wire.slice(4), limits);
  return { command, idempotencyKey: idempotencyKey as string | null, nowMs: nowMs as number };
}

/** A put's arguments start at index 4 of the wire array. */
function checkPut(wire: unknown[], limits: KvLimits, decoded: boolean): KvCommand {
  if (wire.length !== 10 && wire.length !== 9) {
    malformed(`put takes 5 arguments, got ${wire.length - 4}`);
  }
  const key = wire[4], value = wire[5], ttlMs = wire[6], ifModRevision = wire[7];
  const createOnly = wire[8], leaseArg = wire[9];
  validateKey(key, limits.maxKeyBytes);
  validateValue(value, limits.maxValueBytes);
  validateTtlMs(ttlMs);
  checkIfModRevision(ifModRevision);
  if (typeof createOnly !== "boolean") malformed("createOnly must be a boolean");
  const lease = leaseArg === undefined || leaseArg === null ? null : canonicalLeaseId(leaseArg);
  if (lease !== null && ttlMs !== null) malformed("a put takes a ttl or a lease, not both");
  const command: KvCommand = {
    op: "put",
    key: key as string,
    // A plain copy: decoded bytes may be a view on a large shared buffer.
    value: decoded ? new Uint8Array(value as Uint8Array) : value as Uint8Array,
    ttlMs: ttlMs as number | null,
    ifModRevision: ifModRevision as number | null,
    createOnly,
  };
  // Only when set: a lease-free put decodes exactly as before leases existed.
  if (lease !== null) command.lease = lease;
  return command;
}

function checkCommand(opcode: unknown, args: unknown[], limits: KvLimits): KvCommand {
  switch (opcode) {
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
    case OP_LEASE_GRANT:
      expectArity("leaseGrant", args, 1);
      validateLeaseTtlMs(args[0]);
      return { op: "leaseGrant", ttlMs: args[0] as number };
    case OP_LEASE_KEEPALIVE: {
      expectArity("leaseKeepalive", args, 1);
      const ids = args[0];
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_KEEPALIVE_BATCH_IDS) {
        malformed(`leaseKeepalive takes 1..${MAX_KEEPALIVE_BATCH_IDS} lease ids`);
      }
      return { op: "leaseKeepalive", ids: ids.map((id) => canonicalLeaseId(id)) };
    }
    case OP_LEASE_REVOKE:
      expectArity("leaseRevoke", args, 1);
      return { op: "leaseRevoke", id: canonicalLeaseId(args[0]) };
    case OP_TXN: {
      expectArity("txn", args, 3);
      const [compare, success, failure] = args;
      return { op: "txn", txn: checkTxn({ compare, success, failure }, limits) };
    }
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
