/**
 * The ordered map behind the key space: `sorted-btree`'s B+ tree, whose `clone()` is
 * O(1) copy-on-write. That is what lets a snapshot freeze the key space at one instant
 * and stream it out while applies keep changing the live tree (see `store.ts`).
 *
 * @module
 */

import sortedBtree from "sorted-btree";
import type * as sortedBtreeTypes from "sorted-btree";

/** The B+ tree class's instance type (kv code has this one import point). */
export type BTree<K, V> = sortedBtreeTypes.default<K, V>;

// The package is CommonJS (`exports.default = BTree`, marked __esModule): Deno's npm
// interop hands over the whole `exports` object as the default import, so the class
// sits at `.default`; Bun honours __esModule and hands over the class itself.
const BTreeClass: typeof sortedBtree.default =
  (sortedBtree as { default?: typeof sortedBtree.default }).default ??
    (sortedBtree as unknown as typeof sortedBtree.default);

/** Orders keys by UTF-16 code units: total, deterministic and cheap. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A new empty tree of string keys in {@link compareKeys} order. */
export function newKeyTree<V>(): BTree<string, V> {
  return new BTreeClass<string, V>(undefined, compareKeys);
}

/** A new empty tree with a custom comparator. */
export function newTree<K, V>(compare: (a: K, b: K) => number): BTree<K, V> {
  return new BTreeClass<K, V>(undefined, compare);
}
