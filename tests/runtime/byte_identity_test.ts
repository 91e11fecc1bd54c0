/**
 * The same entries written through Deno and through Bun give identical bytes: every WAL
 * segment, every snapshot file, and the framed peer messages. A node may therefore move
 * between runtimes on its data directory, and members on different runtimes understand
 * each other.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { runArgs, runtimeExecutable } from "../../src/runtime/command.ts";
import type { RuntimeName } from "../../src/runtime/runtime.ts";

const WRITER = new URL("./fixture_writer.ts", import.meta.url).pathname;

async function runWriter(name: RuntimeName, dir: string): Promise<void> {
  const out = await new Deno.Command(runtimeExecutable(name), {
    args: [...runArgs(name, WRITER), dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `the fixture writer failed on ${name}:\n${text}`);
}

/** Every file under `dir`, by path relative to it. */
function files(dir: string, prefix = ""): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const e of Deno.readDirSync(join(dir, prefix))) {
    const rel = join(prefix, e.name);
    if (e.isDirectory) { for (const [k, v] of files(dir, rel)) out.set(k, v); }
    else out.set(rel, Deno.readFileSync(join(dir, rel)));
  }
  return out;
}

Deno.test("WAL segments, snapshots and peer frames written on Deno and on Bun are byte-identical", async () => {
  const root = await Deno.makeTempDir({ prefix: "raftkv-bytes-" });
  try {
    await runWriter("deno", `${root}/deno`);
    await runWriter("bun", `${root}/bun`);
    const deno = files(`${root}/deno`);
    const bun = files(`${root}/bun`);
    assert.deepEqual([...bun.keys()].sort(), [...deno.keys()].sort(), "the same file names");
    const names = [...deno.keys()];
    assert.ok(names.filter((n) => n.endsWith(".wal")).length >= 1, "segments were written");
    assert.ok(names.some((n) => n.endsWith(".snap")), "a snapshot was written");
    let bytes = 0;
    for (const [name, content] of deno) {
      const other = bun.get(name)!;
      assert.equal(other.length, content.length, `${name}: length`);
      const first = content.findIndex((b, i) => other[i] !== b);
      assert.equal(first, -1, `${name}: first differing byte at ${first}`);
      bytes += content.length;
    }
    console.log(`${names.length} files, ${bytes} bytes identical: ${names.sort().join(", ")}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
