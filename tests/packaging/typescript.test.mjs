// TypeScript consumers of the tarball: `tsc --noEmit` (strict, no skipLibCheck) under module/moduleResolution
// node16 (ESM .ts and CommonJS .cts) and under bundler. The node16 output then runs against the server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { exec, freshProject, serverUrl, toolSpec } from "./lib.mjs";

const tsFiles = (dir) => ({
  "tsconfig.json": `ts/${dir}/tsconfig.json`,
  src: `ts/${dir}/src`,
  "src/typed-flow.ts": "ts/typed-flow.ts",
});

test("TypeScript node16 (ESM + CJS): tsc --noEmit passes, compiled output makes real calls", async () => {
  const dir = await freshProject("ts-node16", {
    packageJson: { type: "module" },
    files: tsFiles("node16"),
    deps: [toolSpec("typescript")],
  });
  const tsc = join(dir, "node_modules/.bin/tsc");
  await exec(tsc, ["--noEmit", "-p", "."], { cwd: dir });
  await exec(tsc, ["-p", "."], { cwd: dir });
  const env = { APPKEYS_URL: serverUrl };
  const esm = JSON.parse((await exec("node", ["out/index.js"], { cwd: dir, env })).stdout);
  assert.match(esm.userId, /^[0-9a-f]{24}$/);
  assert.equal(esm.keyUserId, esm.userId, "the key logs in as its owner");
  assert.equal(esm.statusCode, 409, "duplicate key name is an AppError with statusCode 409");
  const cjs = JSON.parse((await exec("node", ["out/legacy.cjs"], { cwd: dir, env })).stdout);
  assert.equal(cjs.refused, true);
  assert.equal(cjs.statusCode, 401, "unknown user's login is refused with 401");
});

test("TypeScript bundler resolution: tsc --noEmit passes", async () => {
  const dir = await freshProject("ts-bundler", {
    packageJson: { type: "module" },
    files: tsFiles("bundler"),
    deps: [toolSpec("typescript")],
  });
  await exec(join(dir, "node_modules/.bin/tsc"), ["--noEmit", "-p", "."], { cwd: dir });
});
