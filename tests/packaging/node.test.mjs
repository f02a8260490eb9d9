// Node consumers of the tarball: CommonJS, ES modules, and the examples' quickstarts, each against the server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyExample, exec, expectRealCall, freshProject, npmInstallFlags, serverUrl } from "./lib.mjs";

const env = { APPKEYS_URL: serverUrl };

test("Node CommonJS: require('appkeys') makes real calls", async () => {
  const dir = await freshProject("node-cjs", {
    packageJson: { type: "commonjs" },
    files: { "index.cjs": "node/cjs.cjs", "real-call.mjs": "real-call.mjs" },
  });
  const { stdout } = await exec("node", ["index.cjs"], { cwd: dir, env });
  const result = JSON.parse(stdout);
  expectRealCall(assert, result);
  for (const name of ["App", "Credentials", "AppError"]) assert.ok(result.exports.includes(name), `exports ${name}`);
});

test("Node ESM: import from 'appkeys' makes real calls and shares require()'s instance", async () => {
  const dir = await freshProject("node-esm", {
    packageJson: { type: "module" },
    files: { "index.mjs": "node/esm.mjs", "real-call.mjs": "real-call.mjs" },
  });
  const { stdout } = await exec("node", ["index.mjs"], { cwd: dir, env });
  const result = JSON.parse(stdout);
  expectRealCall(assert, result);
  assert.equal(result.sameInstance, true, "import and require give the same App/AppError");
});

for (const [example, script] of [
  ["node-esm", "quickstart.mjs"],
  ["node-cjs", "quickstart.cjs"],
]) {
  test(`examples-js/${example}: ${script} runs green against the server`, async () => {
    const { dir } = copyExample(example);
    await exec("npm", ["install", ...npmInstallFlags], { cwd: dir });
    const ls = JSON.parse((await exec("npm", ["ls", "--depth=0", "--json"], { cwd: dir })).stdout);
    assert.deepEqual(Object.keys(ls.dependencies), ["appkeys"], "the example needs only the tarball");
    const { stdout } = await exec("node", [script], { cwd: dir, env: { ...env, APPKEYS_APP: "appkeys-demo" } });
    assert.match(stdout, /Quickstart finished/);
    assert.equal((stdout.match(/refused\s+AppError: statusCode=401 errorCode=\S+/g) || []).length, 2,
      `the disabled and the deleted key are both refused with 401:\n${stdout}`);
    const owner = stdout.match(/owner\s+([0-9a-f]{24})/);
    const keyUser = stdout.match(/key login as\s+([0-9a-f]{24})/);
    assert.ok(owner && keyUser, `both ids printed:\n${stdout}`);
    assert.equal(keyUser[1], owner[1], "the key logs in as its owner");
    assert.match(stdout, /secret\s+\S{16,}/, "the secret is shown once");
    // And the quickstart really fails when the server is not there (it is a smoke test, it must be able to).
    await assert.rejects(
      exec("node", [script], { cwd: dir, env: { APPKEYS_URL: "http://127.0.0.1:9" }, timeout: 30000 }),
      /Quickstart FAILED at step 2/,
    );
  });
}
