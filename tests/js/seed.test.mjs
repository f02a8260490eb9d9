// The built package loaded with `import` (ESM): the seed flow with the seed's JavaScript snippets verbatim.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import * as sdk from "appkeys";
import snippets from "./snippets.cjs";
import { startProxiedServer } from "./helpers.mjs";
import { seedFlow } from "./seed-flow.mjs";

const require = createRequire(import.meta.url);
let env;
before(async () => {
  env = await startProxiedServer();
});
after(async () => {
  await env?.stop();
});

test("import: the ESM entry exports the API and shares one instance with require()", () => {
  assert.equal(typeof sdk.App, "function");
  assert.equal(typeof sdk.Credentials, "function");
  assert.equal(typeof sdk.AppError, "function");
  const cjs = require("appkeys");
  assert.equal(sdk.App, cjs.App);
  assert.equal(sdk.Credentials, cjs.Credentials);
  assert.equal(sdk.AppError, cjs.AppError);
});

test("import: seed flow with the seed snippets verbatim", async (t) => {
  await seedFlow(t, sdk, snippets, env);
});
