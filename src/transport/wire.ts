/**
 * The wire form of Raft messages: each {@link Message} becomes one compact CBOR array
 * `[type, from, to, term, ...fields]` (type codes are {@link MessageType}), and every
 * decoded value is checked field by field before it becomes a typed message.
 *
 * Field order per type (append-only: a new field means a new protocol version):
 * - Append:            [1, from, to, term, prevIndex, prevTerm, commit, entries]
 *                      entries flattened as [term, index, type, data, term, index, ...]
 * - AppendResponse:    [2, from, to, term, index, reject, hintIndex, hintTerm]
 * - Vote / PreVote:    [3|5, from, to, term, lastIndex, lastTerm, transfer]
 * - Vote responses:    [4|6, from, to, term, reject]
 * - Heartbeat:         [7, from, to, term, commit, context]
 * - HeartbeatResponse: [8, from, to, term, context]
 * - Snapshot:          [9, from, to, term, index, snapshotTerm, voters, learners]
 * - TimeoutNow:        [10, from, to, term]
 * - ReadIndex:         [11, from, to, term, context]
 * - ReadIndexResponse: [12, from, to, term, context, index, reject]
 *
 * @module
 */

import { Decoder, Encoder } from "cbor-x";
import {
  type AppendMessage,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  type NodeId,
  type SnapshotMessage,
} from "../raft/messages.ts";
import { MAX_NODE_ID_CHARS } from "../node_id.ts";

/** Longest node id accepted from the wire: the one node-id bound, {@link MAX_NODE_ID_CHARS}. */
export const MAX_NODE_ID_LENGTH = MAX_NODE_ID_CHARS;
/** Most entries one Append may carry. */
export const MAX_ENTRIES_PER_MESSAGE = 65_536;
/** Most voters (and, separately, learners) a snapshot's membership may list. */
export const MAX_CONF_MEMBERS = 1_024;

/** Slots per flattened entry: term, index, type, data. */
const ENTRY_SLOTS = 4;

/**
 * One CBOR encoder configured for speed and plain output: no record extension, byte
 * strings (not tagged typed arrays) for `Uint8Array`.
 */
export const wireEncoder: Encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  tagUint8Array: false,
  pack: false,
});

/**
 * One CBOR decoder. Byte strings are decoded as views into the source (no copy), so
 * callers must hand it a buffer they will not reuse (the frame reader copies each frame
 * once).
 */
export const wireDecoder: Decoder = new Decoder({
  useRecords: false,
  mapsAsObjects: true,
});

/** The outcome of checking a decoded value: a typed value or a reason. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Builds the compact array form of `m`. Entry data is referenced, not copied. */
export function toWire(m: Message): unknown[] {
  const head = [m.type, m.from, m.to, m.term];
  switch (m.type) {
    case MessageType.Append:
      return [...head, m.prevIndex, m.prevTerm, m.commit, flattenEntries(m.entries)];
    case MessageType.AppendResponse:
      return [...head, m.index, m.reject, m.hintIndex, m.hintTerm];
    case MessageType.Vote:
    case MessageType.PreVote:
      return [...head, m.lastIndex, m.lastTerm, m.transfer];
    case MessageType.VoteResponse:
    case MessageType.PreVoteResponse:
      return [...head, m.reject];
    case MessageType.Heartbeat:
      return [...head, m.commit, m.context];
    case MessageType.HeartbeatResponse:
      return [...head, m.context];
    case MessageType.Snapshot: {
      const s = m.snapshot;
      return [...head, s.index, s.term, s.conf.voters, s.conf.learners];
    }
    case MessageType.TimeoutNow:
      return head;
    case MessageType.ReadIndex:
      return [...head, m.context];
    case MessageType.ReadIndexResponse:
      return [...head, m.context, m.index, m.reject];
  }
}

function flattenEntries(entries: readonly Entry[]): unknown[] {
  const flat = new Array<unknown>(entries.length * ENTRY_SLOTS);
  let i = 0;
  for (const e of entries) {
    flat[i++] = e.term;
    flat[i++] = e.index;
    flat[i++] = e.type;
    flat[i++] = e.data;
  }
  return flat;
}

/** Encodes `m` as one CBOR value. The result may be a view into a shared buffer: copy it before the next encode. */
export function encodeMessage(m: Message): Uint8Array {
  return wireEncoder.encode(toWire(m));
}

/** Decodes one CBOR value and validates it as a message. Never throws. */
export function decodeMessage(bytes: Uint8Array): Parsed<Message> {
  let value: unknown;
  try {
    value = wireDecoder.decode(bytes);
  } catch {
    return { ok: false, reason: "invalid_cbor" };
  }
  return fromWire(value);
}

/** Thrown inside the validator to carry a rejection reason; never escapes this module. */
class WireError extends Error {
  constructor(readonly reason: string, detail: string) {
    super(detail);
  }
}

function fail(reason: string, detail: string): never {
  throw new WireError(reason, detail);
}

function uint(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    fail("invalid_field", `${field} is not a non-negative safe integer`);
  }
  return v === 0 ? 0 : v; // folds -0 into 0
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== "boolean") fail("invalid_field", `${field} is not a boolean`);
  return v;
}

/**
 * A plain `Uint8Array` view of `b` (no byte copy). The decoder may produce Node
 * `Buffer`s, whose `slice` does not copy: hosts must get the standard semantics.
 */
export function plainBytes(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Checks a node id: a non-empty string no longer than {@link MAX_NODE_ID_LENGTH}. */
export function isNodeId(v: unknown): v is NodeId {
  return typeof v === "string" && v.length > 0 && v.length <= MAX_NODE_ID_LENGTH;
}

function nodeId(v: unknown, field: string): NodeId {
  if (!isNodeId(v)) fail("invalid_field", `${field} is not a valid node id`);
  return v;
}

function nodeIds(v: unknown, field: string): NodeId[] {
  if (!Array.isArray(v) || v.length > MAX_CONF_MEMBERS) {
    fail("invalid_field", `${field} is not a bounded array`);
  }
  return v.map((x, i) => nodeId(x, `${field}[${i}]`));
}

function entryType(v: unknown): EntryType {
  if (v !== EntryType.Normal && v !== EntryType.ConfChange) {
    fail("invalid_field", "entry type is unknown");
  }
  return v;
}

function entries(v: unknown): Entry[] {
  if (!Array.isArray(v) || v.length % ENTRY_SLOTS !== 0) {
    fail("invalid_field", "entries is not a flat array of entries");
  }
  const count = v.length / ENTRY_SLOTS;
  if (count > MAX_ENTRIES_PER_MESSAGE) fail("invalid_field", "too many entries");
  const out = new Array<Entry>(count);
  for (let i = 0, j = 0; i < count; i++, j += ENTRY_SLOTS) {
    const data = v[j + 3];
    if (!(data instanceof Uint8Array)) fail("invalid_field", "entry data is not bytes");
    out[i] = {
      term: uint(v[j], "entry term"),
      index: uint(v[j + 1], "entry index"),
      type: entryType(v[j + 2]),
      data: plainBytes(data),
    };
  }
  return out;
}

/** Array length of each type's wire form: the 4 header slots plus the fields. */
export const WIRE_ARITY: Readonly<Record<MessageType, number>> = {
  [MessageType.Append]: 8,
  [MessageType.AppendResponse]: 8,
  [MessageType.Vote]: 7,
  [MessageType.PreVote]: 7,
  [MessageType.VoteResponse]: 5,
  [MessageType.PreVoteResponse]: 5,
  [MessageType.Heartbeat]: 6,
  [MessageType.HeartbeatResponse]: 5,
  [MessageType.Snapshot]: 8,
  [MessageType.TimeoutNow]: 4,
  [MessageType.ReadIndex]: 5,
  [MessageType.ReadIndexResponse]: 7,
};
const ARITY_BY_CODE: Readonly<Record<number, number | undefined>> = WIRE_ARITY;

/** Validates a decoded value and turns it into a typed message, or says why not. */
export function fromWire(value: unknown): Parsed<Message> {
  try {
    return { ok: true, value: parseWire(value) };
  } catch (e) {
    if (e instanceof WireError) return { ok: false, reason: e.reason };
    throw e;
  }
}

function parseWire(v: unknown): Message {
  if (!Array.isArray(v) || v.length < 4) fail("invalid_field", "message is not an array");
  const type = v[0];
  const expected = typeof type === "number" ? ARITY_BY_CODE[type] : undefined;
  if (expected === undefined) fail("unknown_type", `message type ${String(type)} is unknown`);
  if (v.length !== expected) fail("invalid_field", `message type ${type} has wrong arity`);
  const from = nodeId(v[1], "from");
  const to = nodeId(v[2], "to");
  const term = uint(v[3], "term");
  switch (type) {
    case MessageType.Append:
      return parseAppend(v, from, to, term);
    case MessageType.AppendResponse:
      return {
        type,
        from,
        to,
        term,
        index: uint(v[4], "index"),
        reject: bool(v[5], "reject"),
        hintIndex: uint(v[6], "hintIndex"),
        hintTerm: uint(v[7], "hintTerm"),
      };
    case MessageType.Vote:
    case MessageType.PreVote:
      return {
        type,
        from,
        to,
        term,
        lastIndex: uint(v[4], "lastIndex"),
        lastTerm: uint(v[5], "lastTerm"),
        transfer: bool(v[6], "transfer"),
      };
    case MessageType.VoteResponse:
    case MessageType.PreVoteResponse:
      return { type, from, to, term, reject: bool(v[4], "reject") };
    case MessageType.Heartbeat:
      return {
        type,
        from,
        to,
        term,
        commit: uint(v[4], "commit"),
        context: uint(v[5], "context"),
      };
    case MessageType.HeartbeatResponse:
      return { type, from, to, term, context: uint(v[4], "context") };
    case MessageType.Snapshot:
      return parseSnapshot(v, from, to, term);
    case MessageType.TimeoutNow:
      return { type, from, to, term };
    case MessageType.ReadIndex:
      return { type, from, to, term, context: uint(v[4], "context") };
    case MessageType.ReadIndexResponse:
      return {
        type,
        from,
        to,
        term,
        context: uint(v[4], "context"),
        index: uint(v[5], "index"),
        reject: bool(v[6], "reject"),
      };
  }
  return fail("unknown_type", `message type ${String(type)} is unknown`);
}

function parseAppend(v: unknown[], from: NodeId, to: NodeId, term: number): AppendMessage {
  return {
    type: MessageType.Append,
    from,
    to,
    term,
    prevIndex: uint(v[4], "prevIndex"),
    prevTerm: uint(v[5], "prevTerm"),
    commit: uint(v[6], "commit"),
    entries: entries(v[7]),
  };
}

function parseSnapshot(v: unknown[], from: NodeId, to: NodeId, term: number): SnapshotMessage {
  const voters = nodeIds(v[6], "voters");
  const learners = nodeIds(v[7], "learners");
  const voterSet = new Set(voters);
  if (learners.some((id) => voterSet.has(id))) {
    fail("invalid_field", "a member is both voter and learner");
  }
  return {
    type: MessageType.Snapshot,
    from,
    to,
    term,
    snapshot: {
      index: uint(v[4], "index"),
      term: uint(v[5], "snapshot term"),
      conf: { voters, learners },
    },
  };
}
