/** Shared helpers for storage tests: temp dirs, deterministic entries, file hashes. */

import { join } from "node:path";
import type { Entry } from "../../src/raft/messages.ts";

/** Deterministic data for entry `index` of `term` (so readers can verify content). */
export function dataFor(index: number, term: number, size = 100): Uint8Array {
  const out = new Uint8Array(size);
  let x = (index * 2654435761 + term * 40503) >>> 0;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Entries [from, to] in `term` with deterministic data. */
export function makeEntries(from: number, to: number, term: number, size = 100): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) {
    out.push({ index: i, term, type: 0, data: dataFor(i, term, size) });
  }
  return out;
}

/** Runs `f` with a fresh temp dir, removed afterwards even on failure. */
export async function withTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "raftkv_storage_" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** SHA-256 of every file in `dir`, by name: proves recovery modified nothing. */
export async function hashDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    if (!e.isFile) continue;
    const bytes = await Deno.readFile(join(dir, e.name));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    out[e.name] = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  return out;
}

/** Segment file names in `dir`, ascending. */
export async function segmentFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".wal")) out.push(e.name);
  return out.sort();
}

/** A small seeded PRNG (mulberry32). */
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
