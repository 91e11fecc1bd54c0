/**
 * `deno task bench [name…]`: runs every `tests/bench/*_bench.ts` (or the named ones) in
 * its own process, one after another, and prints their figures. Each script bounds its
 * own run time and exits by itself.
 *
 * @module
 */

const dir = new URL(".", import.meta.url).pathname;
const wanted = new Set(Deno.args);
const scripts: string[] = [];
for await (const entry of Deno.readDir(dir)) {
  if (!entry.isFile || !entry.name.endsWith("_bench.ts")) continue;
  const name = entry.name.slice(0, -"_bench.ts".length);
  if (wanted.size === 0 || wanted.has(name)) scripts.push(entry.name);
}
scripts.sort();
let failed = 0;
for (const script of scripts) {
  console.log(`\n=== ${script} ===`);
  const started = performance.now();
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${dir}${script}`],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`=== ${script}: exit ${code} after ${seconds} s ===`);
  if (code !== 0) failed++;
}
Deno.exit(failed === 0 ? 0 : 1);
