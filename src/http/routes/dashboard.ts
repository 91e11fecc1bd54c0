/**
 * `GET /`: the operations dashboard (see `dashboard_page.ts`). Mounted at the root.
 *
 * The page itself holds no data, so it can be served without a token; the data it
 * fetches (`/v1/cluster`, `/v1/status`, `/metrics`) stays behind the usual auth, and
 * the page asks for a read token when those answer 401.
 *
 * @module
 */

import { Hono } from "hono";
import { DASHBOARD_HTML } from "../dashboard_page.ts";
import { methodNotAllowed } from "../errors.ts";

/** Path of the dashboard; auth should let it through (it is a static page). */
export const DASHBOARD_PATH = "/";

/**
 * Only this page's own inline script and style may run, it may talk only to the node
 * that served it, and no one may frame it.
 */
export const DASHBOARD_CSP = "default-src 'none'; script-src 'unsafe-inline'; " +
  "style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; " +
  "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** The dashboard router; mount with `app.route("/", dashboardRoutes())`. */
export function dashboardRoutes(): Hono {
  return new Hono()
    .get(DASHBOARD_PATH, (c) =>
      c.html(DASHBOARD_HTML, 200, {
        "Content-Security-Policy": DASHBOARD_CSP,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
      }))
    .all(DASHBOARD_PATH, methodNotAllowed(["GET", "HEAD"]));
}
