/**
 * Files on Deno: Deno.FsFile with seek + read/write for positional I/O (one handle is
 * only ever used by one caller at a time, so the shared position is safe).
 *
 * @module
 */

import type { DirEntry, FileHandle, FileSystem, OpenOptions, SyncCounters } from "./runtime.ts";

function wrap(file: Deno.FsFile, syncs: SyncCounters): FileHandle {
  return {
    writeAtSync(bytes, position) {
      file.seekSync(position, Deno.SeekMode.Start);
      for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
    },
    async writeAt(bytes, position) {
      await file.seek(position, Deno.SeekMode.Start);
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
    },
    async write(bytes) {
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
    },
    readAtSync(buf, position) {
      file.seekSync(position, Deno.SeekMode.Start);
      let done = 0;
      while (done < buf.length) {
        const n = file.readSync(buf.subarray(done));
        if (n === null) break;
        done += n;
      }
      return done;
    },
    async readAt(buf, position) {
      await file.seek(position, Deno.SeekMode.Start);
      let done = 0;
      while (done < buf.length) {
        const n = await file.read(buf.subarray(done));
        if (n === null) break;
        done += n;
      }
      return done;
    },
    read: (buf) => file.read(buf),
    async syncData() {
      syncs.fdatasync++;
      await file.syncData();
    },
    async sync() {
      syncs.fsync++;
      await file.sync();
    },
    truncateSync: (length) => file.truncateSync(length),
    size: async () => (await file.stat()).size,
    close: () => file.close(),
  };
}

function entries(list: Iterable<Deno.DirEntry>): DirEntry[] {
  return [...list].map((e) => ({ name: e.name, isFile: e.isFile, isDirectory: e.isDirectory }));
}

/** The Deno file system; sync calls are counted in `syncs`. */
export function denoFileSystem(syncs: SyncCounters): FileSystem {
  const denoOptions = (o: OpenOptions): Deno.OpenOptions => ({
    read: o.read ?? false,
    write: o.write ?? false,
    create: o.create ?? false,
    createNew: o.createNew ?? false,
    truncate: o.truncate ?? false,
  });
  return {
    open: async (path, options) => wrap(await Deno.open(path, denoOptions(options)), syncs),
    openSync: (path, options) => wrap(Deno.openSync(path, denoOptions(options)), syncs),
    readFile: (path) => Deno.readFile(path),
    readTextFile: (path) => Deno.readTextFile(path),
    readTextFileSync: (path) => Deno.readTextFileSync(path),
    writeFile: (path, bytes) => Deno.writeFile(path, bytes),
    writeTextFileSync: (path, text) => Deno.writeTextFileSync(path, text),
    rename: (from, to) => Deno.rename(from, to),
    remove: (path, options) => Deno.remove(path, { recursive: options?.recursive ?? false }),
    mkdir: (path, options) => Deno.mkdir(path, { recursive: options?.recursive ?? false }),
    mkdirSync: (path, options) => Deno.mkdirSync(path, { recursive: options?.recursive ?? false }),
    async readDir(path) {
      const out: Deno.DirEntry[] = [];
      for await (const e of Deno.readDir(path)) out.push(e);
      return entries(out);
    },
    readDirSync: (path) => entries(Deno.readDirSync(path)),
    truncate: (path, length) => Deno.truncate(path, length),
    isNotFound: (error) => error instanceof Deno.errors.NotFound,
  };
}
