import { ok } from "node:assert/strict";

const FORBIDDEN = [
  "Deno.",
  "setTimeout",
  "setInterval",
  "queueMicrotask",
  "Date.now",
  "new Date",
  "performance.now",
  "Math.random",
  "Promise",
  "async ",
  "await ",
  "crypto.",
];

const dir = new URL("../../src/raft/", import.meta.url);

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
}

Deno.test("the raft core imports only src/raft/ files and uses no clock, I/O or randomness", () => {
  const files: string[] = [];
  for (const e of Deno.readDirSync(dir)) if (e.isFile && e.name.endsWith(".ts")) files.push(e.name);
  ok(files.includes("raft.ts"), "raft.ts found");
  const problems: string[] = [];
  for (const name of files) {
    const src = stripComments(Deno.readTextFileSync(new URL(name, dir)));
    const specifiers = [...src.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) =>
      m[1] as string
    );
    for (const s of specifiers) {
      if (!s.startsWith("./") || s.includes("/", 2) || !s.endsWith(".ts")) {
        problems.push(`${name}: import ${s}`);
      }
    }
    for (const word of FORBIDDEN) {
      if (src.includes(word)) problems.push(`${name}: uses ${word.trim()}`);
    }
  }
  ok(problems.length === 0, `impure core:\n${problems.join("\n")}`);
});
