// Issue 34: what the README and the examples' README tell a newcomer to type matches the repository. The Markdown is
// read with markdown-it; the shell blocks are split into commands and words with a shell-words reader (quotes,
// comments, `&&`), so every command of a block is seen. (The README's JavaScript blocks run in snippets.test.mjs;
// the install tarball itself is made with scripts/pack.sh and installed into fresh projects by the packaging tests.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { join } from "node:path";
import { fences } from "./markdown.mjs";
import { repoRoot } from "../support/server.mjs";

const read = (file) => readFileSync(join(repoRoot, file), "utf8");

/**
 * The commands of a shell block, each a list of words: `#` comments dropped, quotes removed, lines joined at a
 * trailing backslash, commands split at `&&`, `||`, `;` and `|`.
 */
function commands(code) {
  const out = [];
  let words = [];
  let word = null;
  let quote = null;
  const endWord = () => {
    if (word !== null) words.push(word);
    word = null;
  };
  const endCommand = () => {
    endWord();
    if (words.length) out.push(words);
    words = [];
  };
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (quote) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "\\" && code[i + 1] === "\n") {
      i++;
      endWord();
    } else if (c === "#" && word === null) {
      while (i < code.length && code[i] !== "\n") i++;
      endCommand();
    } else if (c === "\n" || c === ";") {
      endCommand();
    } else if ((c === "&" || c === "|") && (code[i + 1] === c || c === "|")) {
      if (code[i + 1] === c) i++;
      endCommand();
    } else if (c === " " || c === "\t") {
      endWord();
    } else {
      word = (word ?? "") + c;
    }
  }
  endCommand();
  return out;
}

const shellBlocks = (file) => fences(file).filter((f) => f.lang === "sh");

test("the shell-words reader splits commands as a shell would", () => {
  assert.deepEqual(commands(`a "b c" # d\ne 'f' && g \\\n  h | i`), [["a", "b c"], ["e", "f"], ["g", "h"], ["i"]]);
});

test("README: installing the SDK from a clone names scripts/pack.sh and the tarball it writes", () => {
  // The package's version is the crate's (scripts/build-pkg.sh writes it into package.json the same way).
  const version = execFileSync("cargo", ["pkgid", "-p", "appkeys"], { cwd: repoRoot, encoding: "utf8" })
    .trim()
    .replace(/.*[#@]/, "");
  const tarball = `dist/appkeys-${version}.tgz`;
  const blocks = shellBlocks("README.md").filter((b) => b.heading === "Install the SDK in your own project");
  assert.ok(blocks.length >= 3, "the section has the pack command and the Node and Vite installs");
  const all = blocks.flatMap((b) => commands(b.code));
  assert.ok(all.some((words) => words[0] === "scripts/pack.sh"), "scripts/pack.sh is the command");
  for (const words of all.filter((w) => w[0] === "npm" && w[1] === "install")) {
    assert.ok(words[2].endsWith(`/${tarball}`), `README installs ${words[2]}, scripts/pack.sh writes ${tarball}`);
  }
  const pack = read("scripts/pack.sh");
  assert.ok(pack.includes("--pack-destination \"$ROOT/dist\""), "scripts/pack.sh packs into dist/");
});

test("README and examples-js/README: every repository script they run exists and is executable", () => {
  for (const file of ["README.md", "examples-js/README.md"]) {
    for (const block of shellBlocks(file)) {
      for (const words of commands(block.code)) {
        const script = words.find((w) => /^(scripts|examples-js|tests)\/\S+\.(sh|mjs|cjs)$/.test(w));
        if (!script) continue;
        const mode = script.endsWith(".sh") ? constants.X_OK : constants.R_OK;
        assert.doesNotThrow(() => accessSync(join(repoRoot, script), mode), `${file}:${block.line}: ${script}`);
      }
    }
  }
});

test("README and examples-js/README start the server from the release build, as the demo does", () => {
  for (const file of ["README.md", "examples-js/README.md"]) {
    for (const block of shellBlocks(file)) {
      for (const words of commands(block.code)) {
        if (words[0] !== "cargo" || words[1] !== "run") continue;
        const own = words.slice(0, words.includes("--") ? words.indexOf("--") : words.length);
        assert.ok(own.includes("--release"), `${file}:${block.line}: ${words.join(" ")} (debug build)`);
      }
    }
  }
});

test("examples-js/README says the key manager's build has no .wasm file (the packaging test checks the build)", () => {
  const build = shellBlocks("examples-js/README.md")
    .filter((b) => b.heading === "Key manager")
    .map((b) => b.code.split("\n").find((l) => l.trimStart().startsWith("npm run build")))
    .find(Boolean);
  assert.ok(build, "the key manager section shows `npm run build`");
  assert.ok(build.includes("no .wasm file"), `says: ${build}`);
});
