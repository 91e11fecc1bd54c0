/**
 * The dashboard in a real headless Chromium against a real 3-node cluster: it shows the
 * members and the leader, follows a leadership transfer live, and charts write rates.
 * Saves a screenshot to results/dashboard.png.
 *
 * Needs /usr/bin/chromium; when absent it tries `apt-get install -y chromium`, and
 * skips (printing why) only when that fails too.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { DASHBOARD_HTML } from "../../src/http/dashboard_page.ts";
import { METRICS_CONTENT_TYPE } from "../../src/http/routes/metrics.ts";
import { RaftkvMetrics } from "../../src/node/metrics.ts";
import { TestCluster, type TestNode, waitFor } from "../integration/harness.ts";

const CHROMIUM = "/usr/bin/chromium";
const SCREENSHOT = new URL("../../results/dashboard.png", import.meta.url).pathname;
/** How long the page may take to reflect a change (it refreshes every second). */
const PAGE_DEADLINE_MS = 15_000;
/** Writes per second the background load aims at, so the rate charts have something. */
const LOAD_WRITES_PER_SECOND = 50;

const chromiumProblem = await ensureChromium();

/** Null when Chromium is usable, else why not (after trying to install it). */
async function ensureChromium(): Promise<string | null> {
  if (await exists(CHROMIUM)) return null;
  console.log(`${CHROMIUM} is missing: trying apt-get install -y chromium`);
  try {
    const out = await new Deno.Command("apt-get", {
      args: ["install", "-y", "chromium"],
      stdout: "piped",
      stderr: "piped",
      env: { DEBIAN_FRONTEND: "noninteractive" },
    }).output();
    if (out.success && await exists(CHROMIUM)) return null;
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    return `apt-get install -y chromium failed (exit ${out.code}): ${stderr}`;
  } catch (e) {
    return `apt-get could not run: ${(e as Error).message}`;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

if (chromiumProblem !== null) {
  console.log(`SKIPPING the dashboard browser test: ${chromiumProblem}`);
}

async function launch(profile: string): Promise<BrowserContext> {
  return await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * Where to load the page: from the node itself once the integrator has wired the
 * dashboard into createApp; until then from a local stand-in that serves the page and
 * passes /v1/* through to the node (and synthesizes /metrics from its status).
 */
async function pageUrl(
  cluster: TestCluster,
  node: TestNode,
): Promise<{ url: string; close: () => Promise<void> }> {
  const direct = await cluster.fetch(`${node.httpUrl}/`);
  const body = await direct.text();
  if (direct.ok && body.includes("<title>raftkv dashboard</title>")) {
    return { url: `${node.httpUrl}/`, close: async () => {} };
  }
  console.log("the node does not serve the dashboard yet (unwired): using a local stand-in");
  // The page's own credentials pass through, so auth behaves as on a wired node.
  const pass = async (path: string, authorization: string | undefined) => {
    const res = await fetch(`${node.httpUrl}${path}`, {
      headers: authorization ? { authorization } : {},
    });
    return new Response(res.body, { status: res.status, headers: res.headers });
  };
  const app = new Hono()
    .get("/", (c) => c.html(DASHBOARD_HTML))
    .get("/metrics", async (c) => {
      const res = await pass("/v1/status", c.req.header("authorization"));
      if (!res.ok) return res;
      const status = await res.json();
      const metrics = new RaftkvMetrics();
      metrics.sampleWith(() => ({ status }));
      return c.body(metrics.render(), 200, { "Content-Type": METRICS_CONTENT_TYPE });
    })
    .get("/v1/*", (c) => {
      const url = new URL(c.req.url);
      return pass(url.pathname + url.search, c.req.header("authorization"));
    });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  return { url: `http://127.0.0.1:${server.addr.port}/`, close: () => server.shutdown() };
}

/**
 * Keeps writing keys through the leader, and reading each back from `readVia`, until
 * stopped; counts successful writes.
 */
function startLoad(cluster: TestCluster, readVia: TestNode): { stop: () => Promise<number> } {
  let running = true;
  let written = 0;
  const done = (async () => {
    let i = 0;
    while (running) {
      const started = Date.now();
      try {
        const leader = await cluster.leader(2_000);
        const res = await cluster.fetch(`${leader.httpUrl}/v1/kv/load/${i++ % 100}`, {
          method: "PUT",
          body: String(i),
          signal: AbortSignal.timeout(2_000),
        });
        await res.body?.cancel();
        if (res.ok) written++;
        const read = await cluster.fetch(`${readVia.httpUrl}/v1/kv/load/${(i - 1) % 100}`, {
          signal: AbortSignal.timeout(2_000),
        });
        await read.body?.cancel();
      } catch { /* a transfer in progress: the next write retries */ }
      const pauseMs = 1000 / LOAD_WRITES_PER_SECOND - (Date.now() - started);
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return written;
    },
  };
}

async function pageText(page: Page, selector: string): Promise<string> {
  return (await page.textContent(selector))?.trim() ?? "";
}

/**
 * Waits until `expression` (evaluated in the page, so written as a string: this module
 * is type-checked without the DOM library) is truthy.
 */
async function waitInPage(page: Page, expression: string): Promise<void> {
  // Polled with page.evaluate (CDP evaluation): waitForFunction with a string would
  // eval() inside the page, which the dashboard's own CSP rightly forbids.
  await waitFor(
    expression,
    async () => (await page.evaluate(expression)) ? true : undefined,
    PAGE_DEADLINE_MS,
    100,
  );
}

/** Waits until the page shows `leader` as leader, in the card and in the members table. */
async function waitForLeaderShown(page: Page, leader: string): Promise<void> {
  const id = JSON.stringify(leader);
  await waitInPage(
    page,
    `document.getElementById("leader")?.textContent?.trim() === ${id} &&
     document.querySelector('#members tr[data-leader="true"]')?.dataset.id === ${id}`,
  );
}

Deno.test({
  name:
    "dashboard in Chromium shows members and leader, follows a leadership transfer and a learner catching up",
  ignore: chromiumProblem !== null,
  // Playwright keeps its own pipes and timers; the cluster cleans up in `finally`.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const cluster = await TestCluster.start(3);
    const profile = await Deno.makeTempDir({ prefix: "raftkv-chromium-" });
    let context: BrowserContext | null = null;
    let served: { url: string; close: () => Promise<void> } | null = null;
    const leader = await cluster.leader();
    // Serve the page from a follower: /v1/cluster is forwarded to the leader.
    const via = cluster.nodes.find((n) => n.id !== leader.id);
    assert(via);
    const load = startLoad(cluster, via);
    try {
      served = await pageUrl(cluster, via);
      context = await launch(profile);
      const page = await context.newPage();
      const consoleErrors: string[] = [];
      page.on("pageerror", (e) => consoleErrors.push(String(e)));
      await page.goto(served.url);
      await waitInPage(page, `document.querySelectorAll("#members tr").length === 3`);
      await waitForLeaderShown(page, leader.id);
      const ids = await page.$$eval(
        "#members tr",
        (rows) => rows.map((r) => r.getAttribute("data-id")).sort(),
      );
      assert.deepEqual(ids, ["n1", "n2", "n3"]);
      assert.equal(await pageText(page, "#self"), via.id);

      const to = cluster.nodes.find((n) => n.id !== leader.id && n.id !== via.id);
      assert(to);
      const moved = await cluster.admin("POST", "/v1/cluster/leader", { to: to.id });
      assert.equal(moved.status, 200, JSON.stringify(moved.body));
      await waitForLeaderShown(page, to.id);
      await waitInPage(
        page,
        `document.getElementById("events").textContent.includes("leader changed")`,
      );
      // A learner joins through the page's node: a new row, and its lag closes.
      const learner = cluster.join(via);
      await waitInPage(
        page,
        `document.querySelector('#members tr[data-id="${learner.id}"]')?.dataset.role === "learner"`,
      );
      await waitInPage(
        page,
        `Number(document.querySelector('#members tr[data-id="${learner.id}"]')?.dataset.lag ?? "x") <= 5`,
      );
      await waitInPage(
        page,
        `document.getElementById("events").textContent.includes("member added: ${learner.id}")`,
      );
      // The write chart has points and the commit rate shows the background load.
      await waitInPage(
        page,
        String
          .raw`/now: [1-9][0-9.k]* committed\/s/.test(document.getElementById("writes-now").textContent)`,
      );
      await waitFor(
        "a few more refreshes for the charts",
        async () => {
          const n = Number(await page.evaluate(`document.body.dataset.refreshes ?? "0"`));
          return n >= 8 ? n : undefined;
        },
        PAGE_DEADLINE_MS,
        200,
      );
      assert.equal(await pageText(page, "#error"), "", "the page shows no fetch errors");
      assert.deepEqual(consoleErrors, []);
      await Deno.mkdir(new URL(".", `file://${SCREENSHOT}`).pathname, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`screenshot: ${SCREENSHOT}`);
    } catch (e) {
      for (const n of cluster.nodes) {
        console.log(`--- ${n.id} log tail\n${cluster.logs(n).slice(-2000)}`);
      }
      throw e;
    } finally {
      const written = await load.stop();
      console.log(`background load wrote ${written} keys`);
      await context?.close().catch(() => {});
      await served?.close().catch(() => {});
      await cluster.stop();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "dashboard in Chromium asks for a read token when the cluster requires one",
  ignore: chromiumProblem !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const writeToken = "dashboard-test-write-token-0123";
    const readToken = "dashboard-test-read-token-01234";
    const cluster = await TestCluster.start(3, ["--token", writeToken, "--read-token", readToken], {
      token: writeToken,
    });
    const profile = await Deno.makeTempDir({ prefix: "raftkv-chromium-" });
    let context: BrowserContext | null = null;
    let served: { url: string; close: () => Promise<void> } | null = null;
    try {
      const leader = await cluster.leader();
      served = await pageUrl(cluster, leader);
      context = await launch(profile);
      const page = await context.newPage();
      await page.goto(served.url);
      // Without a token the data endpoints answer 401: the page says so and asks.
      await waitInPage(page, `document.getElementById("auth").classList.contains("shown")`);
      await waitInPage(page, `document.getElementById("error").textContent.includes("401")`);
      await page.fill("#token", readToken);
      await page.click("#auth button");
      await waitInPage(page, `document.querySelectorAll("#members tr").length === 3`);
      await waitForLeaderShown(page, leader.id);
      await waitInPage(page, `document.getElementById("error").textContent === ""`);
      // The token stays in this tab's storage, never in the address bar.
      assert(!page.url().includes(readToken));
      assert.equal(await page.evaluate(`sessionStorage.getItem("raftkv-token")`), readToken);
    } catch (e) {
      for (const n of cluster.nodes) {
        console.log(`--- ${n.id} log tail\n${cluster.logs(n).slice(-2000)}`);
      }
      throw e;
    } finally {
      await context?.close().catch(() => {});
      await served?.close().catch(() => {});
      await cluster.stop();
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    }
  },
});
