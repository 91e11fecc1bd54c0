/**
 * Ports for test nodes that stay theirs for a whole run, restarts included.
 *
 * Asking the OS for port 0 and closing the listener is not enough: a killed node's port
 * is free until it restarts, and in that window the kernel may hand it to any outgoing
 * connection (the port-0 range and the connect range are the same) or to another test's
 * port-0 listener, so the restarted node cannot bind and the test times out. Ports here
 * come from below the kernel's ephemeral range, which the kernel never assigns on its own,
 * and each is claimed with a lock file so parallel test files and processes never share
 * one. Claims are not released during a run; files older than {@link STALE_CLAIM_MS}
 * are from earlier runs and are reclaimed.
 *
 * @module
 */

/** Where claims live, shared by every test process on the machine. */
const CLAIM_DIR = `${Deno.env.get("TMPDIR") ?? "/tmp"}/raftkv-test-ports`;
/** A claim older than this belongs to a finished run. */
const STALE_CLAIM_MS = 2 * 60 * 60 * 1000;
/** The lowest port handed out (well above the well-known and registered services we avoid). */
const LOWEST_PORT = 12_000;
/** How many candidates to try before giving up on one port. */
const MAX_ATTEMPTS = 2_000;

/** The first port of the kernel's ephemeral range (Linux), or a conservative default. */
function ephemeralLow(): number {
  try {
    const [low] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range")
      .trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isInteger(low) && low > LOWEST_PORT + 1_000) return low;
  } catch { /* not Linux: fall through */ }
  return 32_768;
}

const highestPort = ephemeralLow() - 1;

/** Claims `port` for this run; false if another test holds it. */
function claim(port: number): boolean {
  Deno.mkdirSync(CLAIM_DIR, { recursive: true });
  const path = `${CLAIM_DIR}/${port}`;
  for (let tries = 0; tries < 2; tries++) {
    try {
      Deno.openSync(path, { write: true, createNew: true }).close();
      return true;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      const age = Date.now() - (Deno.statSync(path).mtime?.getTime() ?? Date.now());
      if (age < STALE_CLAIM_MS) return false;
      try {
        Deno.removeSync(path);
      } catch { /* another process reclaimed it first */ }
    }
  }
  return false;
}

/** Whether nothing listens on `port` right now. */
function bindable(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** `count` loopback ports, each claimed for the rest of the run and free right now. */
export function freePorts(count: number): number[] {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt >= MAX_ATTEMPTS) {
      throw new Error(`no free test port in ${LOWEST_PORT}-${highestPort} after ${attempt} tries`);
    }
    const port = LOWEST_PORT + Math.floor(Math.random() * (highestPort - LOWEST_PORT + 1));
    if (ports.includes(port) || !claim(port)) continue;
    if (bindable(port)) ports.push(port);
  }
  return ports;
}
