import assert from "node:assert/strict";
import type { AddMemberRequest, AdminApi } from "../../src/http/admin_api.ts";
import { createApp } from "../../src/http/app.ts";
import { FakeNode } from "./fake_node.ts";
import { TEST_OPTIONS } from "./helpers.ts";

/** An admin stub that records every member it is asked to add. */
function recordingAdmin(): { admin: AdminApi; added: AddMemberRequest[] } {
  const added: AddMemberRequest[] = [];
  const admin: AdminApi = {
    cluster: () => ({
      clusterId: "c",
      self: "n1",
      leader: "n1",
      term: 1,
      commitIndex: 0,
      members: [],
    }),
    addMember: (r) => {
      added.push(r);
      return Promise.resolve({
        id: r.id,
        role: "learner",
        peerAddr: r.peerAddr,
        httpUrl: r.httpUrl,
        matchIndex: 0,
        lag: 0,
        lastContactMs: null,
        reachable: null,
      });
    },
    promote: () => Promise.resolve(),
    removeMember: () => Promise.resolve(),
    transferLeader: () => Promise.resolve(),
    snapshot: () => Promise.resolve({ index: 1, term: 1 }),
    backup: () =>
      Promise.resolve({
        index: 1,
        chunks: (async function* () {
          yield new Uint8Array([1]);
        })(),
      }),
  };
  return { admin, added };
}

Deno.test("a cluster route hit with the wrong method answers 405 JSON with Allow, not 404", async () => {
  // An audit found PUT /v1/cluster/snapshot, GET /v1/cluster/leader and friends answering
  // "no route" while every other known path answers 405 naming the methods it takes.
  const { admin } = recordingAdmin();
  const app = createApp(new FakeNode(), TEST_OPTIONS, admin);
  const cases: [string, string, string][] = [
    ["GET", "/v1/cluster/members/n2/promote", "POST"],
    ["DELETE", "/v1/cluster/members/n2/promote", "POST"],
    ["GET", "/v1/cluster/members/n2", "DELETE"],
    ["POST", "/v1/cluster/members/n2", "DELETE"],
    ["GET", "/v1/cluster/leader", "POST"],
    ["PUT", "/v1/cluster/leader", "POST"],
    ["PUT", "/v1/cluster/snapshot", "GET, HEAD, POST"],
    ["DELETE", "/v1/cluster/snapshot", "GET, HEAD, POST"],
  ];
  for (const [method, path, allow] of cases) {
    const res = await app.request(path, { method });
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get("Allow"), allow, `${method} ${path}`);
    const { error } = await res.json();
    assert.equal(error.code, "method_not_allowed");
    assert.match(error.message, new RegExp(`method ${method} not allowed`));
  }
  // The methods they do take still reach their handlers.
  assert.equal((await app.request("/v1/cluster/snapshot", { method: "POST" })).status, 200);
  assert.equal((await app.request("/v1/cluster/snapshot")).status, 200);
  assert.equal((await app.request("/v1/cluster/members/n2", { method: "DELETE" })).status, 200);
  const promote = await app.request("/v1/cluster/members/n2/promote", { method: "POST" });
  assert.equal(promote.status, 200);
});

Deno.test("adding a member with an impossible port or URL answers 400 and adds nothing", async () => {
  const { admin, added } = recordingAdmin();
  const app = createApp(new FakeNode(), TEST_OPTIONS, admin);
  const add = (peerAddr: string, httpUrl: string) =>
    app.request("/v1/cluster/members", {
      method: "POST",
      body: JSON.stringify({ id: "n9", peerAddr, httpUrl, role: "learner" }),
    });
  const refused: [string, string, RegExp][] = [
    ["127.0.0.1:99999", "http://127.0.0.1:8009", /^peerAddr must be host:port/],
    ["127.0.0.1:0", "http://127.0.0.1:8009", /^peerAddr must be host:port/],
    ["127.0.0.1:", "http://127.0.0.1:8009", /^peerAddr must be host:port/],
    ["127.0.0.1:7009", "http://127.0.0.1:99999", /^httpUrl must be an http\(s\) URL/],
    ["127.0.0.1:7009", "http://[nope", /^httpUrl must be an http\(s\) URL/],
    ["127.0.0.1:7009", "ftp://127.0.0.1:8009", /^httpUrl must be an http\(s\) URL/],
  ];
  for (const [peerAddr, httpUrl, message] of refused) {
    const res = await add(peerAddr, httpUrl);
    assert.equal(res.status, 400, `${peerAddr} ${httpUrl}`);
    const { error } = await res.json();
    assert.equal(error.code, "bad_request");
    assert.match(error.message, message);
  }
  assert.equal(added.length, 0);
  const ok = await add("127.0.0.1:65535", "https://n9.example:8443/");
  assert.equal(ok.status, 201);
  assert.deepEqual(added, [{
    id: "n9",
    peerAddr: "127.0.0.1:65535",
    httpUrl: "https://n9.example:8443",
    role: "learner",
  }]);
});

Deno.test("admin routes answer 400 naming a query parameter they do not take", async () => {
  const { admin } = recordingAdmin();
  const app = createApp(new FakeNode(), TEST_OPTIONS, admin);
  for (
    const [method, path] of [
      ["GET", "/v1/cluster?locale=true"],
      ["POST", "/v1/cluster/members?learner=true"],
      ["DELETE", "/v1/cluster/members/n2?force=1"],
      ["POST", "/v1/cluster/leader?to=n2"],
      ["GET", "/v1/cluster/snapshot?index=3"],
    ] as const
  ) {
    const res = await app.request(path, { method, body: method === "POST" ? "{}" : null });
    assert.equal(res.status, 400, `${method} ${path}`);
    const body = await res.json();
    assert.equal(body.error.code, "bad_request");
    assert.match(body.error.message, /unknown query parameter/);
  }
  const local = await app.request("/v1/cluster?local=true");
  assert.equal(local.status, 200);
  await local.body?.cancel();
});

Deno.test('a missing or non-string member id in a body is named, not read as "" or "5"', async () => {
  const { admin, added } = recordingAdmin();
  const app = createApp(new FakeNode(), TEST_OPTIONS, admin);
  const member = { peerAddr: "127.0.0.1:7009", httpUrl: "http://127.0.0.1:8009" };
  const cases: [string, unknown, RegExp][] = [
    ["/v1/cluster/leader", {}, /the body needs "to", a member id/],
    ["/v1/cluster/leader", { to: 5 }, /"to" must be a member id string, not 5/],
    ["/v1/cluster/members", member, /the body needs "id", a member id/],
    ["/v1/cluster/members", { ...member, id: 9 }, /"id" must be a member id string, not 9/],
  ];
  for (const [path, body, message] of cases) {
    const res = await app.request(path, { method: "POST", body: JSON.stringify(body) });
    assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}`);
    const { error } = await res.json();
    assert.equal(error.code, "bad_request");
    assert.match(error.message, message);
  }
  assert.equal(added.length, 0);
  const ok = await app.request("/v1/cluster/leader", {
    method: "POST",
    body: JSON.stringify({ to: "n2" }),
  });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { leader: "n2" });
});
