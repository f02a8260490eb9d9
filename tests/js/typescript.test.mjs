// TypeScript: `tsc --noEmit` over the seed's TypeScript snippets (tests/js/ts/seed-snippets.ts, verbatim)
// and the package's exact types (tests/js/ts/types.ts, also under full strict); then the snippets file is
// transpiled with esbuild and its seed flow runs against a real server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { transform } from "esbuild";
import * as sdk from "appkeys";
import { repoRoot } from "../support/server.mjs";
import { startProxiedServer } from "./helpers.mjs";
import { seedFlow } from "./seed-flow.mjs";

const run = promisify(execFile);
const tsc = join(repoRoot, "node_modules/.bin/tsc");

async function typeCheck(project) {
  try {
    const { stdout } = await run(tsc, ["--noEmit", "-p", project], { cwd: repoRoot });
    return { code: 0, output: stdout };
  } catch (e) {
    return { code: e.code, output: `${e.stdout}${e.stderr}` };
  }
}

// the three tsc runs (~4 s each) start at once and run in parallel
const checks = {
  main: typeCheck("tests/js/ts"),
  strict: typeCheck("tests/js/ts/tsconfig.strict.json"),
  broken: typeCheck("tests/js/ts/broken/tsconfig.json"),
};

test("tsc --noEmit -p tests/js/ts (seed snippets + types)", async () => {
  const { code, output } = await checks.main;
  assert.equal(code, 0, output);
});

test("tsc --noEmit -p tests/js/ts/tsconfig.strict.json (exact types, full strict)", async () => {
  const { code, output } = await checks.strict;
  assert.equal(code, 0, output);
});

test("tsc really checks: a wrong use of the package is reported", async () => {
  const { code, output } = await checks.broken;
  assert.notEqual(code, 0);
  assert.match(output, /error TS2345/, output);
  assert.match(output, /error TS2339/, output);
});

let env;
before(async () => {
  env = await startProxiedServer();
});
after(async () => {
  await env?.stop();
});

test("the transpiled TypeScript snippets run the seed flow", async (t) => {
  const source = readFileSync(join(repoRoot, "tests/js/ts/seed-snippets.ts"), "utf8");
  const { code } = await transform(source, { loader: "ts", format: "esm", target: "es2022" });
  assert.ok(!/from\s+["']appkeys["']/.test(code), "type-only imports are erased");
  const snippets = await import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
  assert.deepEqual(Object.keys(snippets).sort(), ["createKey", "deleteFirstKey", "enableThenDisable", "lookUpKeys"]);
  await seedFlow(t, sdk, snippets, env);
});
