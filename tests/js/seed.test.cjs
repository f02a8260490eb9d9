// The built package loaded with `require` (CommonJS): the seed flow with the seed's JavaScript snippets verbatim.
"use strict";
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const sdk = require("appkeys");
const snippets = require("./snippets.cjs");

let env;
let seedFlow;
before(async () => {
  ({ seedFlow } = await import("./seed-flow.mjs"));
  const { startProxiedServer } = await import("./helpers.mjs");
  env = await startProxiedServer();
});
after(async () => {
  await env?.stop();
});

test("require: the CommonJS entry exports the API", () => {
  assert.equal(typeof sdk.App, "function");
  assert.equal(typeof sdk.Credentials, "function");
  assert.equal(typeof sdk.AppError, "function");
  assert.equal(typeof sdk.Credentials.emailPassword, "function");
  assert.equal(typeof sdk.Credentials.anonymous, "function");
  assert.equal(typeof sdk.Credentials.apiKey, "function");
});

test("require: seed flow with the seed snippets verbatim", async (t) => {
  await seedFlow(t, sdk, snippets, env);
});
