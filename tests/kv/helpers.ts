/**
 * Test helpers for kv: envelope builders, a store driver that assigns log indexes, and
 * a seeded PRNG.
 *
 * @module
 */

import { encodeEnvelope } from "../../src/kv/codec.ts";
import { KvStore } from "../../src/kv/store.ts";
import type { ApplyResult, KeyValue, KvCommand } from "../../src/kv/types.ts";

/** Leader clock used by default in tests. */
export const T0 = 1_700_000_000_000;

/** UTF-8 bytes of a string. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A put command with defaults. */
export function putCmd(
  key: string,
  value: string | Uint8Array,
  opts: { ttlMs?: number; ifModRevision?: number; createOnly?: boolean; lease?: string } = {},
): KvCommand {
  return {
    op: "put",
    key,
    value: typeof value === "string" ? bytes(value) : value,
    ttlMs: opts.ttlMs ?? null,
    ifModRevision: opts.ifModRevision ?? null,
    createOnly: opts.createOnly ?? false,
    ...(opts.lease === undefined ? {} : { lease: opts.lease }),
  };
}

/** A delete command. */
export function delCmd(key: string, ifModRevision: number | null = null): KvCommand {
  return { op: "delete", key, ifModRevision };
}

/** Encodes a command as entry data. */
export function entry(
  command: KvCommand,
  opts: { nowMs?: number; idempotencyKey?: string } = {},
): Uint8Array {
  return encodeEnvelope({
    command,
    idempotencyKey: opts.idempotencyKey ?? null,
    nowMs: opts.nowMs ?? T0,
  });
}

/** A store plus the next log index, so tests read like a command log. */
export class Driver {
  readonly store: KvStore;
  index = 0;

  constructor(store: KvStore = new KvStore()) {
    this.store = store;
    this.index = store.appliedIndex;
  }

  /** Applies a command as the next entry. */
  run(command: KvCommand, opts: { nowMs?: number; idempotencyKey?: string } = {}): ApplyResult {
    return this.raw(entry(command, opts));
  }

  /** Applies raw entry bytes as the next entry. */
  raw(data: Uint8Array): ApplyResult {
    this.index += 1;
    return this.store.apply(this.index, data);
  }
}

/** Text of a record's value. */
export function text(kv: KeyValue | null): string | null {
  return kv === null ? null : new TextDecoder().decode(kv.value);
}

/** Mulberry32: a tiny seeded PRNG, so random tests replay from the printed seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every record of a store, in key order. */
export function dump(store: KvStore): KeyValue[] {
  const out: KeyValue[] = [];
  let after: string | null = null;
  for (;;) {
    const page = store.list("", after, 1000);
    out.push(...page.items);
    const last = page.items.at(-1);
    if (!page.more || last === undefined) return out;
    after = last.key;
  }
}

/** Collects an async iterable of chunks. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

/** Replays collected chunks as a stream. */
export async function* replay(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield await Promise.resolve(chunk);
}
