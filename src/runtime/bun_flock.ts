/**
 * flock(2) on Bun: node:fs has no file locks, so the libc call is made through bun:ffi.
 * It is the same lock Deno's `FsFile.tryLock` takes, so a Deno node and a Bun node
 * exclude each other from one data directory.
 *
 * @module
 */

import * as fs from "node:fs";
import process from "node:process";

/** flock(2) operation bits (the same on Linux and macOS). */
const LOCK_EX = 2;
const LOCK_NB = 4;

/** The part of bun:ffi used here (typed here: Deno's checker has no Bun types). */
interface BunFfi {
  dlopen(
    path: string,
    symbols: { flock: { args: string[]; returns: string } },
  ): { symbols: { flock(fd: number, operation: number): number } };
}

/** Where libc's flock lives, by platform: glibc first, then musl (Alpine). */
const LIBC_NAMES: Record<string, string[]> = {
  linux: ["libc.so.6", "libc.musl-x86_64.so.1", "libc.musl-aarch64.so.1"],
  darwin: ["libSystem.B.dylib"],
};

let flock: ((fd: number, operation: number) => number) | null = null;

async function loadFlock(): Promise<(fd: number, operation: number) => number> {
  if (flock !== null) return flock;
  // A computed specifier: Deno (which type-checks this file) cannot resolve bun:ffi.
  const specifier = "bun:" + "ffi";
  const ffi = (await import(specifier)) as BunFfi;
  const problems: string[] = [];
  for (const libc of LIBC_NAMES[process.platform] ?? LIBC_NAMES["linux"]!) {
    try {
      const lib = ffi.dlopen(libc, { flock: { args: ["i32", "i32"], returns: "i32" } });
      flock = (fd, operation) => lib.symbols.flock(fd, operation);
      return flock;
    } catch (e) {
      problems.push(`${libc}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  throw new Error(
    `cannot lock the data directory: no C library with flock (${problems.join("; ")})`,
  );
}

/** See {@link Runtime.lockFile}: an exclusive, non-blocking flock on `path`. */
export async function bunLockFile(path: string): Promise<(() => void) | null> {
  const lock = await loadFlock();
  const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o666);
  if (lock(fd, LOCK_EX | LOCK_NB) === 0) return () => fs.closeSync(fd);
  fs.closeSync(fd);
  return null;
}
