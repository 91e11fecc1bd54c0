/**
 * `--restore <file>`: seeds an empty data directory with a backup taken from
 * `GET /v1/cluster/snapshot`, as a new single-voter cluster of this node. The KV state
 * comes from the file; the member list is replaced by this node alone, so the restored
 * node never tries to reach the members of the cluster the backup came from.
 *
 * @module
 */

import type { RaftStorage } from "../storage/raft_storage.ts";
import { kvLimitsOf, type NodeConfig } from "./config.ts";
import { KvStore } from "../kv/store.ts";
import { decodeNodeSnapshot, encodeNodeSnapshot } from "./snapshot_format.ts";
import { runtime } from "../runtime/current.ts";

/** Index and term the restored state sits at. */
const RESTORE_INDEX = 1;
const RESTORE_TERM = 1;

/** Streams a file in chunks (never whole into memory). */
async function* readFile(path: string): AsyncIterable<Uint8Array> {
  const file = await runtime.fs.open(path, { read: true });
  try {
    const buffer = new Uint8Array(1024 * 1024);
    for (;;) {
      const n = await file.read(buffer);
      if (n === null || n === 0) return;
      yield buffer.slice(0, n);
    }
  } finally {
    file.close();
  }
}

/**
 * Checks the backup (it must decode and restore), then writes it as this node's first
 * snapshot. Returns the number of keys restored.
 */
export async function restoreBackup(
  config: NodeConfig,
  storage: RaftStorage,
  path: string,
): Promise<number> {
  if (storage.lastIndex() !== 0 || storage.snapshotMeta().index !== 0) {
    throw new Error(`--restore needs an empty data directory, and ${config.dataDir} is not`);
  }
  // The whole file is decoded (and validated) before anything is written, then
  // re-snapshotted at this cluster's first index, so a broken backup leaves nothing behind.
  const decoded = await decodeNodeSnapshot(readFile(path));
  const restored = await KvStore.restore(decoded.kvChunks, kvLimitsOf(config));
  restored.rebaseAppliedIndex(RESTORE_INDEX);
  const meta = {
    index: RESTORE_INDEX,
    term: RESTORE_TERM,
    conf: { voters: [config.id], learners: [] },
  };
  const header = {
    version: 1 as const,
    members: [[config.id, { peerAddr: config.peerAddr, httpUrl: config.advertiseHttpUrl }]] as [
      string,
      { peerAddr: string; httpUrl: string },
    ][],
  };
  const snapshot = restored.snapshot();
  await storage.writeSnapshot(meta, encodeNodeSnapshot(header, snapshot.chunks));
  await storage.applySnapshot(meta);
  await storage.save({ term: RESTORE_TERM, vote: null, commit: RESTORE_INDEX }, []);
  return restored.size;
}
