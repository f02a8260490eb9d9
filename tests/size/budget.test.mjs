// The SDK size budget (issue 33): the seed-flow bundle (JS + wasm, minified, gzip -9; bench/bundle-size) may not
// grow past bench/size-budget.json. Raising the budget is a one-line change there, with the reason in CHANGELOG.
// On failure the message gives the budget, the new size and the largest contributors (bench/wasm-explain.mjs).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { explainText } from "../../bench/wasm-explain.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** Fails (with the sizes and the largest contributors) when `size` is over `budget`. */
function check(size, budget, ratio) {
  assert.ok(
    size <= budget,
    [
      `the seed-flow bundle grew past its budget: ${size} B gzip > ${budget} B (bench/size-budget.json)`,
      `(${ratio} x realm-web). Take the bytes out, or raise the budget with the reason in CHANGELOG.`,
      ...explainText(12),
    ].join("\n"),
  );
}

const measured = JSON.parse(
  execFileSync("node", [`${root}bench/bundle-size`, "--json"], { cwd: root, encoding: "utf8" }),
);
const size = measured.appkeys.totalGzip;
const ratio = measured.ratio.toFixed(3);

test("the seed-flow bundle stays within the size budget", () => {
  const budget = JSON.parse(readFileSync(`${root}bench/size-budget.json`, "utf8")).seedFlowGzipBytes;
  console.log(`seed flow: ${size} B gzip (budget ${budget} B; ${ratio} x realm-web's ${measured.realmWeb.totalGzip} B)`);
  check(size, budget, ratio);
});

test("the check fails past the budget, naming both sizes and the largest contributors", () => {
  assert.throws(() => check(size, size - 1, ratio), (err) => {
    assert.match(err.message, new RegExp(`${size} B gzip > ${size - 1} B`));
    assert.match(err.message, /wasm code by crate/);
    assert.match(err.message, /largest functions/);
    return true;
  });
});
