// The code snippets of the seed document (../shared/seed/user-api-keys-node-sdk.txt, copied byte for byte
// into tests/js/fixtures/seed.txt), split into blocks, so tests can check that our test sources contain
// every snippet verbatim.
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./server.mjs";

export const seedCopyPath = join(repoRoot, "tests/js/fixtures/seed.txt");
export const seedOriginalPath = join(repoRoot, "../shared/seed/user-api-keys-node-sdk.txt");

const isCode = (line) => /^(const |await |\/\/ )/.test(line);

/** Returns [{ lang: "ts" | "js", text }] in document order (8 blocks: TS then JS for 4 topics). */
export function seedSnippets(text = readFileSync(seedCopyPath, "utf8")) {
  const lines = text.split("\n");
  const blocks = [];
  let cur = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (isCode(line)) {
      const startsBlock =
        line === "// Get the ID of a User API Key" ||
        (line.startsWith("const user") && lines[i - 1] !== "// Get the ID of a User API Key");
      if (!cur || startsBlock) {
        cur = { lines: [] };
        blocks.push(cur);
      }
      cur.lines.push(line);
    } else if (line === "" && cur && isCode(lines[i + 1] ?? "")) {
      cur.lines.push(line); // a blank line inside a snippet
    } else {
      cur = null;
    }
  }
  return blocks.map((b) => {
    const text = b.lines.join("\n");
    return { lang: /: (Realm|string)/.test(text) ? "ts" : "js", text };
  });
}

export function seedOriginalExists() {
  return existsSync(seedOriginalPath);
}
