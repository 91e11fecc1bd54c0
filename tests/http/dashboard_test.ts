import assert from "node:assert/strict";
import { DASHBOARD_HTML } from "../../src/http/dashboard_page.ts";
import { DASHBOARD_CSP, dashboardRoutes } from "../../src/http/routes/dashboard.ts";

Deno.test("GET / serves the dashboard page with a strict content security policy", async () => {
  const app = dashboardRoutes();
  const res = await app.request("/");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
  assert.equal(res.headers.get("content-security-policy"), DASHBOARD_CSP);
  assert.match(DASHBOARD_CSP, /connect-src 'self'/);
  const html = await res.text();
  assert.equal(html, DASHBOARD_HTML);
  assert.equal((await app.request("/", { method: "POST" })).status, 405);
});

Deno.test("the dashboard is self-contained: no external scripts, styles, fonts or images", () => {
  // The network is closed in production clusters too: nothing may load from elsewhere.
  assert.doesNotMatch(DASHBOARD_HTML, /\b(src|href)\s*=/i);
  assert.doesNotMatch(DASHBOARD_HTML, /https?:\/\//);
  assert.doesNotMatch(DASHBOARD_HTML, /@import|url\(/);
  assert.doesNotMatch(DASHBOARD_HTML, /__[A-Z_]+__/, "every template placeholder is filled");
});

Deno.test("the dashboard script is valid JavaScript and reads only this node's endpoints", () => {
  const scripts = [...DASHBOARD_HTML.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  assert.equal(scripts.length, 1);
  // The Function constructor parses without running: a syntax error throws here.
  new Function(scripts[0] ?? "");
  const fetched = [...(scripts[0] ?? "").matchAll(/get\("([^"]+)"\)/g)].map((m) => m[1]);
  assert.deepEqual(fetched.sort(), ["/metrics", "/v1/cluster", "/v1/status"]);
  // Data is written with textContent: innerHTML would let a member id inject markup.
  assert.doesNotMatch(scripts[0] ?? "", /innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
});
