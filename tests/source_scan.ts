/**
 * Reading src/ as text for the purity tests (the seam's and the driver clock's): comments
 * stripped, files listed recursively.
 *
 * @module
 */

/** `src` without block and line comments (a `//` inside a URL or a string stays). */
export function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** Every `.ts` file under `dir`, as paths relative to it. */
export function tsFilesUnder(dir: URL): string[] {
  const out: string[] = [];
  const walk = (at: URL, prefix: string) => {
    for (const e of Deno.readDirSync(at)) {
      if (e.isDirectory) walk(new URL(`${e.name}/`, at), `${prefix}${e.name}/`);
      else if (e.isFile && e.name.endsWith(".ts")) out.push(`${prefix}${e.name}`);
    }
  };
  walk(dir, "");
  return out;
}
