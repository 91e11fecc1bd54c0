import assert from "node:assert/strict";
import { NetnsNetwork, netnsUnavailableReason } from "./netns.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const PORT = 9000;

/** A TCP server inside `node`'s namespace that answers every connection with "hi". */
function serveIn(net: NetnsNetwork, node: string): Deno.ChildProcess {
  const code = `const l = Deno.listen({ hostname: "${net.ip(node)}", port: ${PORT} });
    console.log("listening");
    for await (const c of l) { await c.write(new TextEncoder().encode("hi")); c.close(); }`;
  const [cmd, ...args] = net.wrap(node, [Deno.execPath(), "eval", code]);
  return new Deno.Command(cmd ?? "ip", { args, stdout: "piped", stderr: "null" }).spawn();
}

/** Whether a TCP connect from inside `from`'s namespace to `to`'s server succeeds within 1 s. */
async function connects(net: NetnsNetwork, from: string, to: string): Promise<boolean> {
  const code = `try {
      const c = await Promise.race([
        Deno.connect({ hostname: "${net.ip(to)}", port: ${PORT} }),
        new Promise((_, no) => setTimeout(() => no(new Error("timeout")), 1000)),
      ]);
      c.close(); console.log("ok"); Deno.exit(0);
    } catch { console.log("cut"); Deno.exit(0); }`;
  const [cmd, ...args] = net.wrap(from, [Deno.execPath(), "eval", code]);
  const out = await new Deno.Command(cmd ?? "ip", { args, stdout: "piped", stderr: "null" })
    .output();
  return new TextDecoder().decode(out.stdout).trim() === "ok";
}

/** Whether the harness (root namespace) reaches `to`'s server. */
async function harnessConnects(net: NetnsNetwork, to: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ hostname: net.ip(to), port: PORT });
    c.close();
    return true;
  } catch {
    return false;
  }
}

Deno.test(
  "partitions cut real TCP between namespaces, never the harness, and heal",
  opts,
  async (t) => {
    const reason = await netnsUnavailableReason();
    if (reason !== null) {
      console.log(`skipped: ${reason}`);
      return;
    }
    const net = await NetnsNetwork.create(["a", "b", "c"]);
    const servers: Deno.ChildProcess[] = [];
    try {
      for (const node of ["a", "b"]) {
        const server = serveIn(net, node);
        servers.push(server);
        const reader = server.stdout.pipeThrough(new TextDecoderStream()).getReader();
        assert.equal((await reader.read()).value?.trim(), "listening");
        reader.releaseLock();
      }
      await t.step("all connected before any cut", async () => {
        assert(await connects(net, "c", "a"));
        assert(await connects(net, "b", "a"));
      });
      await net.partition([{ from: "c", to: "a" }, { from: "a", to: "c" }]);
      await t.step("a cut pair cannot connect, others and the harness still can", async () => {
        assert(!(await connects(net, "c", "a")));
        assert(await connects(net, "b", "a"));
        assert(await connects(net, "c", "b"));
        assert(await harnessConnects(net, "a"));
      });
      await net.partition([{ from: "b", to: "a" }]);
      await t.step("one-way: packets from b to a are dropped", async () => {
        assert(!(await connects(net, "b", "a")));
        assert(await connects(net, "c", "a"), "the previous cut was replaced");
      });
      await net.heal();
      await t.step("healed: everyone connects again", async () => {
        assert(await connects(net, "b", "a"));
        assert(await connects(net, "c", "a"));
      });
    } finally {
      for (const s of servers) {
        try {
          s.kill("SIGKILL");
        } catch { /* gone */ }
        await s.status;
      }
      await net.destroy();
    }
    const left = new TextDecoder().decode(
      (await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output()).stdout,
    );
    assert(!left.includes(net.namespace("a")), "namespaces are removed");
  },
);
