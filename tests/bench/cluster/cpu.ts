/**
 * CPU time of processes from outside, for CPU µs per operation: user + system time
 * (fields 14 and 15 of /proc/PID/stat, all threads included) read before and after a
 * run. On a machine whose cores are shared by the members and the load generator this
 * figure is steady where ops/s is not.
 *
 * @module
 */

/** Clock ticks per second of /proc/PID/stat times (USER_HZ; 100 on Linux everywhere). */
const TICKS_PER_SECOND = 100;

/** User and system CPU time of `pid` so far, in microseconds (0 when it is gone). */
export async function cpuTimesUs(pid: number): Promise<{ userUs: number; systemUs: number }> {
  let stat: string;
  try {
    stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  } catch {
    return { userUs: 0, systemUs: 0 };
  }
  // Field 2 (the command) may hold spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const usPerTick = 1e6 / TICKS_PER_SECOND;
  return { userUs: Number(fields[11]) * usPerTick, systemUs: Number(fields[12]) * usPerTick };
}

/** user + system CPU time of `pid` so far, in microseconds (0 when it is gone). */
export async function cpuTimeUs(pid: number): Promise<number> {
  const { userUs, systemUs } = await cpuTimesUs(pid);
  return userUs + systemUs;
}

/** CPU per operation of a group of processes over one run. */
export interface CpuPerOp {
  /** µs of CPU per successful operation, one per process in the order given. */
  perMemberUs: number[];
  /** Their sum. */
  totalUs: number;
  /** Index (in `perMemberUs`) of the leader, or -1 when not known. */
  leader: number;
}

/**
 * Runs `work` and divides the CPU time `pids` spent meanwhile by the operations it
 * reports; `leader` is the index of the leader's PID.
 */
export async function measureCpu<T>(
  pids: number[],
  leader: number,
  work: () => Promise<T>,
  operations: (result: T) => number,
): Promise<{ result: T; cpu: CpuPerOp }> {
  const before = await Promise.all(pids.map(cpuTimeUs));
  const result = await work();
  const after = await Promise.all(pids.map(cpuTimeUs));
  const ops = Math.max(1, operations(result));
  const perMemberUs = pids.map((_, i) => (after[i]! - before[i]!) / ops);
  return {
    result,
    cpu: { perMemberUs, totalUs: perMemberUs.reduce((a, b) => a + b, 0), leader },
  };
}

/** "112 (L 70 · 21 · 21)": the total, then the leader's share first. */
export function formatCpu(cpu: CpuPerOp | undefined): string {
  if (!cpu) return "–";
  const order = cpu.perMemberUs.map((us, i) => ({ us, leader: i === cpu.leader }))
    .sort((a, b) => Number(b.leader) - Number(a.leader));
  const parts = order.map((m) => `${m.leader ? "L " : ""}${m.us.toFixed(0)}`);
  return `${cpu.totalUs.toFixed(0)} (${parts.join(" · ")})`;
}
