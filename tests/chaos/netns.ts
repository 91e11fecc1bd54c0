/**
 * A private network for a chaos run: one Linux network namespace per node, each joined
 * by a veth pair to a bridge in the root namespace. Node-to-node traffic crosses the
 * real TCP stack, so `iptables` DROP rules inside a node's namespace cut it for real,
 * while the harness (the bridge address, never named in any rule) still reaches every
 * node's HTTP port.
 *
 * Each run claims a slot: its names (`rkvchaos<slot>…`, `rkvc<slot>h<i>`) and its
 * subnet `10.211.<slot>.0/24` derive from it, and a lock file names the owning PID, so
 * two runs can share a machine and a crashed run's leftovers are found and removed by
 * the next one.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Every namespace and link this module creates starts with one of these. */
export const NAMESPACE_PREFIX = "rkvchaos";
/** Prefix of veth ends (interface names are limited to 15 characters). */
const VETH_PREFIX = "rkvc";
/** Slots (and so concurrent runs) one machine supports. */
export const MAX_SLOTS = 32;
/** First two octets of every run's private /24 (10.211.<slot>.0/24). */
export const SUBNET_PREFIX = "10.211";
/** Host part of node 0's address; node i gets FIRST_NODE_HOST + i. */
const FIRST_NODE_HOST = 11;
/** Where slot lock files live. */
const LOCK_DIR = "/tmp/rkvchaos";

/** Packets from node `from` to node `to` are dropped (one direction). */
export interface Cut {
  from: string;
  to: string;
}

/** Runs a command; throws with its stderr when it fails. */
export async function sh(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`${cmd} ${args.join(" ")} failed (${out.code}): ${err}`);
  }
  return text;
}

/**
 * Whether this process can build namespaces: root, `ip` and `iptables-restore` present.
 * Returns the reason when it cannot.
 */
export async function netnsUnavailableReason(): Promise<string | null> {
  if (Deno.build.os !== "linux") return `network namespaces need Linux, not ${Deno.build.os}`;
  if (Deno.uid() !== 0) return `network namespaces need root (uid is ${Deno.uid()})`;
  for (const tool of [["ip", "-V"], ["iptables-restore", "--version"]]) {
    try {
      await sh(tool[0] as string, tool.slice(1));
    } catch (e) {
      return `${tool[0]} is missing (apt-get install -y iproute2 iptables): ${e}`;
    }
  }
  return null;
}

/** A run's namespaces, bridge and rules; {@link NetnsNetwork.destroy} removes them all. */
export class NetnsNetwork {
  /** Address of the bridge: the harness's address as nodes see it. */
  readonly bridgeIp: string;
  readonly #slot: number;
  readonly #nodes: readonly string[];
  #destroyed = false;

  private constructor(slot: number, nodes: readonly string[]) {
    this.#slot = slot;
    this.#nodes = nodes;
    this.bridgeIp = `${SUBNET_PREFIX}.${slot}.1`;
  }

  /** Removes stale runs' leftovers, claims a slot and builds one namespace per node. */
  static async create(nodes: readonly string[]): Promise<NetnsNetwork> {
    assert(nodes.length > 0 && nodes.length < 200, "1..199 nodes");
    await removeStale();
    const slot = await claimSlot();
    const net = new NetnsNetwork(slot, nodes);
    try {
      await net.#build();
    } catch (e) {
      await net.destroy();
      throw e;
    }
    return net;
  }

  /** The namespace of a node. */
  namespace(node: string): string {
    return `${NAMESPACE_PREFIX}${this.#slot}-${node}`;
  }

  /** The address of a node inside its namespace. */
  ip(node: string): string {
    const i = this.#nodes.indexOf(node);
    assert(i >= 0, `unknown node ${node}`);
    return `${SUBNET_PREFIX}.${this.#slot}.${FIRST_NODE_HOST + i}`;
  }

  /** The command line that runs `argv` inside a node's namespace (`ip netns exec` execs, same PID). */
  wrap(node: string, argv: string[]): string[] {
    return ["ip", "netns", "exec", this.namespace(node), ...argv];
  }

  /** Replaces every rule with exactly `cuts` (an empty list heals the network). */
  async partition(cuts: readonly Cut[]): Promise<void> {
    assert(!this.#destroyed, "network already destroyed");
    await Promise.all(this.#nodes.map((node) => this.#applyRules(node, cuts)));
  }

  /** Drops every rule: all nodes see each other again. */
  async heal(): Promise<void> {
    await this.partition([]);
  }

  /** Deletes the namespaces (and with them their veth ends), the bridge and the lock. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await removeSlot(this.#slot);
  }

  async #build(): Promise<void> {
    const bridge = bridgeName(this.#slot);
    await sh("ip", ["link", "add", bridge, "type", "bridge"]);
    await sh("ip", ["addr", "add", `${this.bridgeIp}/24`, "dev", bridge]);
    await sh("ip", ["link", "set", bridge, "up"]);
    for (const [i, node] of this.#nodes.entries()) {
      const ns = this.namespace(node);
      const host = `${VETH_PREFIX}${this.#slot}h${i}`;
      const peer = `${VETH_PREFIX}${this.#slot}p${i}`;
      await sh("ip", ["netns", "add", ns]);
      await sh("ip", ["link", "add", host, "type", "veth", "peer", "name", peer]);
      await sh("ip", ["link", "set", host, "master", bridge, "up"]);
      await sh("ip", ["link", "set", peer, "netns", ns]);
      await sh("ip", ["-n", ns, "link", "set", peer, "name", "eth0"]);
      await sh("ip", ["-n", ns, "addr", "add", `${this.ip(node)}/24`, "dev", "eth0"]);
      await sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
      await sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    }
  }

  /** One atomic iptables-restore per namespace: the filter table becomes exactly these drops. */
  async #applyRules(node: string, cuts: readonly Cut[]): Promise<void> {
    const lines = [
      "*filter",
      ":INPUT ACCEPT [0:0]",
      ":FORWARD ACCEPT [0:0]",
      ":OUTPUT ACCEPT [0:0]",
    ];
    for (const cut of cuts) {
      assert(cut.from !== cut.to, "a node cannot be cut from itself");
      if (cut.from === node) lines.push(`-A OUTPUT -d ${this.ip(cut.to)}/32 -j DROP`);
      if (cut.to === node) lines.push(`-A INPUT -s ${this.ip(cut.from)}/32 -j DROP`);
    }
    lines.push("COMMIT", "");
    await sh("ip", ["netns", "exec", this.namespace(node), "iptables-restore"], lines.join("\n"));
  }
}

function bridgeName(slot: number): string {
  return `${NAMESPACE_PREFIX}${slot}`;
}

function lockPath(slot: number): string {
  return `${LOCK_DIR}/slot-${slot}.pid`;
}

/** Takes the lowest free slot by creating its lock file exclusively. */
async function claimSlot(): Promise<number> {
  await Deno.mkdir(LOCK_DIR, { recursive: true });
  for (let slot = 0; slot < MAX_SLOTS; slot++) {
    try {
      await Deno.writeTextFile(lockPath(slot), String(Deno.pid), { createNew: true });
      return slot;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
  throw new Error(`all ${MAX_SLOTS} chaos network slots are taken (see ${LOCK_DIR})`);
}

/** Whether a slot's owner is a live process (a lock without a live owner is stale). */
async function slotOwnerAlive(slot: number): Promise<boolean> {
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(lockPath(slot))).trim());
  } catch {
    return false;
  }
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === Deno.pid) return true;
  try {
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    return cmdline.includes("deno");
  } catch {
    return false;
  }
}

/**
 * Removes every slot whose owner is gone: its node processes (only those inside its
 * namespaces), namespaces, veths, bridge and lock. Returns what was removed.
 */
export async function removeStale(): Promise<string[]> {
  const slots = new Set<number>();
  for (const line of (await sh("ip", ["netns", "list"])).split("\n")) {
    const m = new RegExp(`^${NAMESPACE_PREFIX}(\\d+)-`).exec(line);
    if (m?.[1] !== undefined) slots.add(Number(m[1]));
  }
  for (const line of (await sh("ip", ["-o", "link", "show"])).split("\n")) {
    const m = new RegExp(`^\\d+: (?:${NAMESPACE_PREFIX}|${VETH_PREFIX})(\\d+)[:@hp]`).exec(line);
    if (m?.[1] !== undefined) slots.add(Number(m[1]));
  }
  try {
    for await (const entry of Deno.readDir(LOCK_DIR)) {
      const m = /^slot-(\d+)\.pid$/.exec(entry.name);
      if (m?.[1] !== undefined) slots.add(Number(m[1]));
    }
  } catch { /* no lock dir yet */ }
  const removed: string[] = [];
  for (const slot of slots) {
    if (await slotOwnerAlive(slot)) continue;
    removed.push(...await removeSlot(slot));
  }
  return removed;
}

/** Tears one slot down; every step tolerates what is already gone. */
async function removeSlot(slot: number): Promise<string[]> {
  const removed: string[] = [];
  const prefix = `${NAMESPACE_PREFIX}${slot}-`;
  const namespaces = (await sh("ip", ["netns", "list"])).split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name.startsWith(prefix));
  for (const ns of namespaces) {
    const pids = await sh("ip", ["netns", "pids", ns]).catch(() => "");
    for (const pid of pids.split("\n").map(Number).filter((p) => p > 0)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    await sh("ip", ["netns", "del", ns]).catch(() => {});
    removed.push(ns);
  }
  const links = (await sh("ip", ["-o", "link", "show"])).split("\n")
    .map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1] ?? "")
    .filter((name) =>
      name === bridgeName(slot) || new RegExp(`^${VETH_PREFIX}${slot}[hp]\\d+$`).test(name)
    );
  for (const link of links) {
    await sh("ip", ["link", "del", link]).catch(() => {});
    removed.push(link);
  }
  await Deno.remove(lockPath(slot)).catch(() => {});
  return removed;
}
