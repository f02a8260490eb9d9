// The packed tarball itself: what npm would publish, and what the examples point at.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { exec, repoRoot, tarball } from "./lib.mjs";

const entries = (await exec("tar", ["-tzf", tarball])).stdout.split("\n").filter(Boolean);
const manifest = JSON.parse((await exec("tar", ["-xzOf", tarball, "package/package.json"])).stdout);

/** Every file path mentioned by package.json's entry fields and exports map (conditions flattened). */
function entryPaths(pkg) {
  const out = [];
  const walk = (v) => {
    if (typeof v === "string") out.push(v);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  for (const field of ["main", "module", "browser", "types", "typings", "exports"]) walk(pkg[field]);
  return [...new Set(out)];
}

test("tarball is the appkeys package, named after its version", () => {
  assert.equal(manifest.name, "appkeys");
  assert.equal(basename(tarball), `appkeys-${manifest.version}.tgz`);
  assert.ok(manifest.exports && manifest.exports["."], "package.json has an exports map with '.'");
});

test("every entry point and exported path exists in the tarball", () => {
  const paths = entryPaths(manifest).filter((p) => !p.includes("*"));
  assert.ok(paths.length >= 3, `expected several entry points, got ${JSON.stringify(paths)}`);
  const missing = paths.filter((p) => !entries.includes(`package/${p.replace(/^\.\//, "")}`));
  assert.deepEqual(missing, [], "entry points missing from the tarball");
});

test("tarball ships wasm and type declarations, and no build leftovers", () => {
  assert.ok(entries.some((e) => e.endsWith(".wasm")), "a .wasm file is packed");
  assert.ok(entries.some((e) => e.endsWith(".d.ts") || e.endsWith(".d.mts")), "type declarations are packed");
  const junk = entries.filter((e) => /(^|\/)(\.gitignore|node_modules|target|src\/.*\.rs|.*\.tgz)$/.test(e));
  assert.deepEqual(junk, [], "files that do not belong in the package");
});

test("every example depends on exactly this tarball (file:../../dist/<name>), but the identity provider (no SDK)", () => {
  const examples = join(repoRoot, "examples-js");
  const dirs = readdirSync(examples, { withFileTypes: true }).filter((d) => d.isDirectory() && d.name !== "node_modules");
  assert.ok(dirs.length >= 3, "node-esm, node-cjs and key-manager exist");
  for (const d of dirs) {
    const pkg = JSON.parse(readFileSync(join(examples, d.name, "package.json"), "utf8"));
    if (d.name === "identity-provider") {
      // Stands for Auth0/Firebase/Clerk: it issues tokens and never uses the SDK.
      assert.equal(pkg.dependencies.appkeys, undefined);
      continue;
    }
    assert.equal(pkg.dependencies.appkeys, `file:../../dist/${basename(tarball)}`, `examples-js/${d.name}`);
  }
});
