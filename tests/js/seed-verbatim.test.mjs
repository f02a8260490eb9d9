// Every code snippet of the seed document appears byte for byte in the sources the suites run:
// the JavaScript ones in snippets.cjs (Node CJS + ESM suites and the browser page), the TypeScript ones
// in ts/seed-snippets.ts (type-checked with tsc and run after transpiling).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../support/server.mjs";
import { seedSnippets, seedCopyPath, seedOriginalPath, seedOriginalExists } from "../support/seed.mjs";

test("the seed copy in the repository is byte-identical to ../shared/seed (when that checkout exists)", () => {
  const copy = readFileSync(seedCopyPath);
  assert.ok(copy.length > 1000);
  if (seedOriginalExists()) assert.ok(copy.equals(readFileSync(seedOriginalPath)), "tests/js/fixtures/seed.txt differs");
});

test("the seed has 4 JavaScript and 4 TypeScript snippets", () => {
  const s = seedSnippets();
  assert.deepEqual(s.map((b) => b.lang), ["ts", "js", "ts", "js", "ts", "js", "ts", "js"]);
});

for (const [lang, file] of [
  ["js", "tests/js/snippets.cjs"],
  ["ts", "tests/js/ts/seed-snippets.ts"],
]) {
  test(`${file} contains every ${lang} snippet verbatim, each exactly once`, () => {
    const source = readFileSync(join(repoRoot, file), "utf8");
    for (const { text } of seedSnippets().filter((b) => b.lang === lang)) {
      const marked = `// ---- seed snippet (verbatim) ----\n${text}\n// ---- end of seed snippet ----\n`;
      assert.equal(source.split(marked).length - 1, 1, `missing or duplicated in ${file}:\n${text}`);
    }
  });
}
