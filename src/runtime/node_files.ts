/**
 * Files through `node:fs`, as Bun implements it: positional reads and writes on a
 * descriptor, fdatasync/fsync through the callback API (off the event loop), and the
 * exact open(2) flags the seam's options mean.
 *
 * @module
 */

import * as fs from "node:fs";
import type { DirEntry, FileHandle, FileSystem, OpenOptions, SyncCounters } from "./runtime.ts";

function flagsOf(o: OpenOptions): number {
  const c = fs.constants;
  let flags = o.write ? (o.read ? c.O_RDWR : c.O_WRONLY) : c.O_RDONLY;
  if (o.create || o.createNew) flags |= c.O_CREAT;
  if (o.createNew) flags |= c.O_EXCL;
  if (o.truncate) flags |= c.O_TRUNC;
  return flags;
}

/** Runs a node-style callback call as a promise. */
function call<T>(f: (cb: (error: Error | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    f((error, value) => error ? reject(error) : resolve(value));
  });
}

function wrap(fd: number, syncs: SyncCounters): FileHandle {
  /** The sequential position (node's fd position is not used, so it cannot drift). */
  let position = 0;
  let closed = false;
  const writeAt = async (bytes: Uint8Array, at: number) => {
    for (let done = 0; done < bytes.length;) {
      done += await call<number>((cb) =>
        fs.write(fd, bytes, done, bytes.length - done, at + done, cb)
      );
    }
  };
  const readAt = async (buf: Uint8Array, at: number) => {
    let done = 0;
    while (done < buf.length) {
      const n = await call<number>((cb) =>
        fs.read(fd, buf, done, buf.length - done, at + done, cb)
      );
      if (n === 0) break;
      done += n;
    }
    return done;
  };
  return {
    writeAtSync(bytes, at) {
      for (let done = 0; done < bytes.length;) {
        done += fs.writeSync(fd, bytes, done, bytes.length - done, at + done);
      }
    },
    writeAt,
    async write(bytes) {
      const at = position;
      position += bytes.length;
      await writeAt(bytes, at);
    },
    readAtSync(buf, at) {
      let done = 0;
      while (done < buf.length) {
        const n = fs.readSync(fd, buf, done, buf.length - done, at + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    },
    readAt,
    async read(buf) {
      if (buf.length === 0) return 0;
      const n = await call<number>((cb) => fs.read(fd, buf, 0, buf.length, position, cb));
      position += n;
      return n === 0 ? null : n;
    },
    async syncData() {
      syncs.fdatasync++;
      await call<void>((cb) => fs.fdatasync(fd, (e) => cb(e, undefined)));
    },
    async sync() {
      syncs.fsync++;
      await call<void>((cb) => fs.fsync(fd, (e) => cb(e, undefined)));
    },
    truncateSync: (length) => fs.ftruncateSync(fd, length),
    size: async () => (await call<fs.Stats>((cb) => fs.fstat(fd, cb))).size,
    close() {
      if (closed) return;
      closed = true;
      fs.closeSync(fd);
    },
  };
}

function entries(list: fs.Dirent[]): DirEntry[] {
  return list.map((e) => ({ name: e.name, isFile: e.isFile(), isDirectory: e.isDirectory() }));
}

/** The node:fs file system; sync calls are counted in `syncs`. */
export function nodeFileSystem(syncs: SyncCounters): FileSystem {
  const p = fs.promises;
  return {
    open: async (path, options) =>
      wrap(await call<number>((cb) => fs.open(path, flagsOf(options), 0o666, cb)), syncs),
    openSync: (path, options) => wrap(fs.openSync(path, flagsOf(options), 0o666), syncs),
    readFile: async (path) => new Uint8Array(await p.readFile(path)),
    readTextFile: (path) => p.readFile(path, "utf8"),
    readTextFileSync: (path) => fs.readFileSync(path, "utf8"),
    writeFile: (path, bytes) => p.writeFile(path, bytes),
    writeTextFileSync: (path, text) => fs.writeFileSync(path, text),
    rename: (from, to) => p.rename(from, to),
    remove: (path, options) =>
      options?.recursive ? p.rm(path, { recursive: true }) : p.rm(path, { recursive: false }),
    mkdir: async (path, options) => {
      await p.mkdir(path, { recursive: options?.recursive ?? false });
    },
    mkdirSync: (path, options) => {
      fs.mkdirSync(path, { recursive: options?.recursive ?? false });
    },
    readDir: async (path) => entries(await p.readdir(path, { withFileTypes: true })),
    readDirSync: (path) => entries(fs.readdirSync(path, { withFileTypes: true })),
    truncate: (path, length) => p.truncate(path, length),
    isNotFound: (error) => (error as { code?: unknown } | null)?.code === "ENOENT",
  };
}
