/**
 * Renders benchmark rows as a Markdown table, JSON, and an SVG bar chart.
 *
 * @module
 */

import type { WrkResult } from "./wrk.ts";
import { type CpuPerOp, formatCpu } from "./cpu.ts";

/** One workload at one connection count, for every system. */
export interface Row {
  workload: string;
  connections: number;
  /** The runtime raftkv ran on in this row (`--runtimes`); etcd figures are shared. */
  runtime?: string;
  raftkv: WrkResult | null;
  etcd2: WrkResult | null;
  etcd3: WrkResult | null;
  /** CPU µs per operation of every member over each system's run, when measured. */
  cpu?: { raftkv?: CpuPerOp; etcd2?: CpuPerOp; etcd3?: CpuPerOp };
}

/** The better etcd figure (higher ops/s) of a row, and which API gave it. */
export function bestEtcd(row: Row): { api: "v2" | "v3"; result: WrkResult } | null {
  const candidates = [
    row.etcd2 && { api: "v2" as const, result: row.etcd2 },
    row.etcd3 && { api: "v3" as const, result: row.etcd3 },
  ].filter((c) => c !== null);
  if (candidates.length === 0) return null;
  return candidates.reduce((a, b) => (b.result.opsPerSec > a.result.opsPerSec ? b : a));
}

const ms = (us: number) => (us / 1000).toFixed(2);
const ops = (n: number) => Math.round(n).toLocaleString("en-US");

function cell(r: WrkResult | null): string {
  if (!r) return "– | – | – | –";
  const errors = r.errStatus + r.errTimeout + r.errConnect + r.errRead + r.errWrite;
  const errText = errors > 0 ? ` (${errors} err)` : "";
  return `${ops(r.opsPerSec)}${errText} | ${ms(r.p50Us)} | ${ms(r.p99Us)} | ${ms(r.p999Us)}`;
}

/** The main comparison table (latencies in ms). */
export function markdownTable(rows: Row[]): string {
  const lines = [
    "| workload | conns | raftkv ops/s | p50 | p99 | p99.9 | etcd (best API) ops/s | p50 | p99 | p99.9 | raftkv / etcd |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const row of rows) {
    const best = bestEtcd(row);
    const ratio = row.raftkv && best
      ? (row.raftkv.opsPerSec / best.result.opsPerSec).toFixed(2) + "×"
      : "–";
    lines.push(
      `| ${row.workload}${
        row.runtime ? ` (raftkv on ${row.runtime})` : ""
      } | ${row.connections} | ${cell(row.raftkv)} | ${
        best ? `${cell(best.result).replace(" |", ` (${best.api}) |`)}` : cell(null)
      } | ${ratio} |`,
    );
  }
  return lines.join("\n");
}

/** A grouped bar chart of ops/s: raftkv next to the better etcd API, per row. */
export function svgChart(rows: Row[], title: string): string {
  const width = 60 + rows.length * 70;
  const height = 320;
  const max = Math.max(
    1,
    ...rows.flatMap((r) => [r.raftkv?.opsPerSec ?? 0, bestEtcd(r)?.result.opsPerSec ?? 0]),
  );
  const y = (v: number) => 260 - (v / max) * 220;
  const bars = rows.map((r, i) => {
    const x = 50 + i * 70;
    const a = r.raftkv?.opsPerSec ?? 0;
    const b = bestEtcd(r)?.result.opsPerSec ?? 0;
    return `<rect x="${x}" y="${y(a)}" width="25" height="${
      260 - y(a)
    }" fill="#2b7de9"><title>raftkv ${ops(a)}</title></rect>
<rect x="${x + 27}" y="${y(b)}" width="25" height="${260 - y(b)}" fill="#999"><title>etcd ${
      ops(b)
    }</title></rect>
<text x="${x + 26}" y="275" font-size="9" text-anchor="middle">${r.workload}</text>
<text x="${x + 26}" y="287" font-size="9" text-anchor="middle">c=${r.connections}</text>`;
  }).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<text x="10" y="20" font-size="14">${title}</text>
<text x="10" y="38" font-size="10">ops/s (max ${
    ops(max)
  }); blue raftkv, grey etcd (better of v2/v3)</text>
<line x1="45" y1="260" x2="${width - 10}" y2="260" stroke="#333"/>
${bars}
</svg>
`;
}

/**
 * CPU µs per operation per member (leader first, marked L) and in total, next to ops/s,
 * for raftkv and the better etcd API of each row.
 */
export function cpuTable(rows: Row[]): string {
  const lines = [
    "| workload | conns | raftkv ops/s | raftkv CPU µs/op total (L · followers) | etcd ops/s | etcd CPU µs/op total (L · followers) | CPU raftkv / etcd |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const row of rows) {
    const best = bestEtcd(row);
    const ours = row.cpu?.raftkv;
    const theirs = best ? row.cpu?.[best.api === "v2" ? "etcd2" : "etcd3"] : undefined;
    const ratio = ours && theirs ? (ours.totalUs / theirs.totalUs).toFixed(2) + "×" : "–";
    lines.push(
      `| ${row.workload}${
        row.runtime ? ` (raftkv on ${row.runtime})` : ""
      } | ${row.connections} | ${row.raftkv ? ops(row.raftkv.opsPerSec) : "–"} | ${
        formatCpu(ours)
      } | ${best ? `${ops(best.result.opsPerSec)} (${best.api})` : "–"} | ${
        formatCpu(theirs)
      } | ${ratio} |`,
    );
  }
  return lines.join("\n");
}
