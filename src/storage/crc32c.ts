/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven with
 * slicing-by-8 so recovery can verify a large log quickly. Every WAL record and
 * snapshot trailer carries one.
 *
 * @module
 */

const POLYNOMIAL_REFLECTED = 0x82f63b78;
const TABLE_COUNT = 8;

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const base = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL_REFLECTED : c >>> 1;
    base[n] = c >>> 0;
  }
  tables.push(base);
  // Table t maps a byte to its CRC contribution t positions further back, which
  // lets the loop fold eight input bytes per step.
  for (let t = 1; t < TABLE_COUNT; t++) {
    const prev = tables[t - 1] as Uint32Array;
    const next = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      const p = prev[n] as number;
      next[n] = ((p >>> 8) ^ (base[p & 0xff] as number)) >>> 0;
    }
    tables.push(next);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables() as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/**
 * Continues a CRC-32C over `bytes`. Start with `crc = 0`; feeding a buffer in pieces
 * gives the same result as feeding it whole.
 *
 * @example
 * ```ts
 * crc32c(new TextEncoder().encode("123456789")); // 0xe3069283
 * ```
 */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  // The `!`s below are in-bounds typed-array reads (i < n, table indices < 256):
  // this loop is the hot path of recovery, so no per-byte checks.
  let c = ~crc >>> 0;
  let i = 0;
  const n = bytes.length;
  const fast = n - (n % 8);
  while (i < fast) {
    const a = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) |
      (bytes[i + 3]! << 24))) >>> 0;
    c = T7[a & 0xff]! ^ T6[(a >>> 8) & 0xff]! ^ T5[(a >>> 16) & 0xff]! ^ T4[a >>> 24]! ^
      T3[bytes[i + 4]!]! ^ T2[bytes[i + 5]!]! ^ T1[bytes[i + 6]!]! ^ T0[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < n) c = (c >>> 8) ^ T0[(c ^ bytes[i++]!) & 0xff]!;
  return ~c >>> 0;
}
