/**
 * The portability checks inside workerd (Cloudflare's Workers runtime): a module worker
 * whose fetch handler runs `smoke()` against the URL in `?url=` and answers "ok" or the
 * failure. Bundled with esbuild and served by `tests/client/workerd_test.ts`.
 *
 * @module
 */

import { smoke } from "./smoke_checks.ts";

export default {
  /** Runs the checks against `?url=`. */
  async fetch(request: Request): Promise<Response> {
    const target = new URL(request.url).searchParams.get("url");
    if (target === null) return new Response("missing ?url=", { status: 400 });
    try {
      await smoke(target);
      return new Response("ok");
    } catch (error) {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return new Response(text, { status: 500 });
    }
  },
};
