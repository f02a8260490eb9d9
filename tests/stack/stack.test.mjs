// The shipped SDK is built on the stack it is specified with (issue 9): the crate's normal wasm32 dependencies
// include wasm-bindgen, wasm-bindgen-futures, js-sys, web-sys, serde-wasm-bindgen and gloo-net (wasm-bindgen-test
// for the tests), wasm-bindgen is pinned with `=` at the CLI's version, and the built package shows each of them
// at work. Needs the package built by scripts/build-pkg.sh (pkg/ and target/wasm32-unknown-unknown/wasm-release).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../support/server.mjs";

const STACK = ["wasm-bindgen", "wasm-bindgen-futures", "js-sys", "web-sys", "serde-wasm-bindgen", "gloo-net"];

/** Direct dependencies of the `appkeys` crate for wasm32 with edges of `kind` (normal, dev). */
function directDeps(kind) {
  const out = execFileSync(
    "cargo",
    ["tree", "--locked", "-p", "appkeys", "--target", "wasm32-unknown-unknown", "-e", kind, "--depth", "1", "--prefix", "none"],
    { cwd: repoRoot, encoding: "utf8" },
  );
  return out
    .split("\n")
    .slice(1)
    .map((line) => line.split(" ")[0])
    .filter(Boolean);
}

const read = (p) => readFileSync(join(repoRoot, p), "utf8");
const glue = read("pkg/web/appkeys.js");
const nodeGlue = read("pkg/node/appkeys.js");
const types = read("pkg/node/appkeys.d.ts");
// The release wasm as cargo built it (before wasm-bindgen and wasm-opt strip the names).
const wasm = readFileSync(join(repoRoot, "target/wasm32-unknown-unknown/wasm-release/appkeys.wasm")).toString("latin1");
const rustSources = (dir) =>
  readdirSync(join(repoRoot, dir), { recursive: true })
    .filter((f) => String(f).endsWith(".rs"))
    .map((f) => read(join(dir, String(f))))
    .join("\n");
const sdkSource = rustSources("src");

test("the crate's normal wasm32 dependencies are the stack; wasm-bindgen-test is its test harness", () => {
  const normal = directDeps("normal");
  for (const crate of STACK) assert.ok(normal.includes(crate), `${crate} is a normal dependency (got ${normal})`);
  assert.ok(directDeps("dev").includes("wasm-bindgen-test"), "wasm-bindgen-test is a dev-dependency");
});

test("wasm-bindgen is pinned with `=` and the CLI is that exact version", () => {
  const pinned = read("Cargo.toml").match(/^wasm-bindgen = "=([0-9.]+)"/m);
  assert.ok(pinned, "Cargo.toml pins wasm-bindgen with =");
  const cli = execFileSync("wasm-bindgen", ["--version"], { encoding: "utf8" }).trim().split(" ")[1];
  assert.equal(cli, pinned[1]);
  assert.ok(glue.length > 0 && nodeGlue.length > 0);
});

test("wasm-bindgen: the JS objects are #[wasm_bindgen] classes (no dispatch table, no glue renaming)", () => {
  for (const cls of ["App", "User", "ApiKeyAuth", "EmailPasswordAuth", "Credentials"]) {
    assert.match(glue, new RegExp(`export class ${cls} \\{`), `class ${cls} in the web glue`);
    assert.match(types, new RegExp(`export class ${cls} \\{`), `class ${cls} in the generated .d.ts`);
  }
  assert.doesNotMatch(glue, /__dispatch/);
  assert.match(glue, /__wbg_[a-z_]+_[0-9a-f]{16}/, "wasm-bindgen's own import names");
});

test("wasm-bindgen-futures: methods return promises of Rust futures", () => {
  assert.match(sdkSource, /wasm_bindgen_futures::future_to_promise/);
  assert.match(glue, /queueMicrotask/, "its executor schedules polls with queueMicrotask");
  assert.match(types, /logIn\(credentials: Credentials\): Promise<User>;/);
});

test("gloo-net: every request goes through gloo_net::http (no hand-bound fetch)", () => {
  assert.match(sdkSource, /use gloo_net::http::\{[^}]*\bRequest\b[^}]*\}/);
  assert.match(sdkSource, /Request::from\(raw\)\.send\(\)\.await/, "sent by gloo-net");
  assert.doesNotMatch(sdkSource, /js_name = "?fetch"?\s*[,)]/, "no extern binding of the global fetch");
  assert.ok(wasm.includes("gloo_net::http::request"), "gloo-net's request code is in the wasm");
  assert.match(glue, /fetch\(/);
});

test("serde-wasm-bindgen: Rust types cross into and out of JS through it", () => {
  assert.match(sdkSource, /serde_wasm_bindgen::Serializer::json_compatible\(\)/);
  assert.match(sdkSource, /serde_wasm_bindgen::Deserializer::from/);
  assert.ok(wasm.includes("serde_wasm_bindgen"), "serde-wasm-bindgen's code is in the wasm");
});

test("web-sys: localStorage through web_sys::Storage; js-sys: JSON and errors", () => {
  assert.match(sdkSource, /web_sys::Storage/);
  assert.match(glue, /localStorage/);
  assert.match(glue, /getItem\(/);
  assert.match(sdkSource, /js_sys::JSON::parse/);
  assert.match(glue, /JSON\.parse/);
});
