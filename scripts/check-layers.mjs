#!/usr/bin/env node
// The layering rule of appkeys-server (docs/ARCHITECTURE.md, "Layers"), checked on the source text:
//   1. a module imports only from layers below its own (`crate::…`, `super::…`, `use` groups);
//   2. no two modules import each other, directly or through others (a cycle between files; a parent
//      module declaring and re-exporting its own children is ownership, not an import);
//   3. no source file over 600 lines, no function over 120 lines.
// Exits 1 with one line per violation. `--root DIR` checks another copy of server/src (its self-test).
//   node scripts/check-layers.mjs [--root server/src]
import { readFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, relative, dirname, sep } from "node:path";
import { fileURLToPath } from "node:url";

const MAX_FILE_LINES = 600;
const MAX_FN_LINES = 120;

// Bottom to top. A module may import modules of a lower rank only (and itself). The crate root
// (lib.rs) and the binary sit above everything.
const LAYERS = [
  ["error", "config", "util"],
  ["model"],
  ["crypto"],
  ["db"],
  ["service"],
  ["state"],
  ["jobs", "http"],
];
const RANK = new Map(LAYERS.flatMap((names, rank) => names.map((n) => [n, rank])));

const args = process.argv.slice(2);
const repo = fileURLToPath(new URL("..", import.meta.url));
const root = args.includes("--root") ? args[args.indexOf("--root") + 1] : join(repo, "server/src");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return name.endsWith(".rs") ? [path] : [];
  });
}

/** `a/b.rs` or `a/b/mod.rs` → ["a", "b"]; `lib.rs` → []; `bin/x/main.rs` → ["bin", "x", "main"]. */
function modulePath(file) {
  const parts = relative(root, file).split(sep);
  const last = parts.pop().replace(/\.rs$/, "");
  if (parts.length === 0 && last === "lib") return [];
  if (last !== "mod") parts.push(last);
  return parts;
}

/** The crate a file belongs to: the library, or one binary under bin/NAME/. */
const crateOf = (mod) => (mod[0] === "bin" ? mod.slice(0, 2).join("/") : "lib");

/** The code without comments and string literals (so paths in docs or SQL do not count). */
function code(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\/\/.*$/gm, "");
}

/** Every path a file names: the expanded `use` trees and the inline `crate::…`/`super::…` paths. */
function paths(text) {
  const found = [];
  const expand = (prefix, tree) => {
    tree = tree.trim();
    const brace = tree.indexOf("{");
    if (brace < 0) {
      const path = (prefix + tree).split(/\s+as\s+/)[0].trim();
      if (path) found.push(path.replace(/::self$/, ""));
      return;
    }
    const head = prefix + tree.slice(0, brace);
    let depth = 0;
    let item = "";
    for (const ch of tree.slice(brace + 1, tree.lastIndexOf("}"))) {
      if (ch === "{") depth++;
      if (ch === "}") depth--;
      if (ch === "," && depth === 0) {
        expand(head, item);
        item = "";
      } else item += ch;
    }
    if (item.trim()) expand(head, item);
  };
  for (const m of text.matchAll(/\buse\s+([^;]+);/g)) expand("", m[1]);
  for (const m of text.matchAll(/\b(?:crate|super)(?:::\w+)+/g)) found.push(m[0]);
  return found.map((p) => p.split("::").filter((s) => s !== "self"));
}

const sources = files(root).map((file) => {
  const text = readFileSync(file, "utf8");
  return { file, rel: relative(root, file), mod: modulePath(file), text, code: code(text) };
});
const byModule = new Map(sources.map((s) => [`${crateOf(s.mod)}|${s.mod.join("::")}`, s]));

/** The source file defining the longest prefix of `path` (absolute module segments) in `crate`. */
function resolve(crate, path) {
  for (let n = path.length; n >= 0; n--) {
    const hit = byModule.get(`${crate}|${path.slice(0, n).join("::")}`);
    if (hit) return hit;
  }
  return null;
}

const problems = [];
const edges = new Map(sources.map((s) => [s.rel, new Set()]));
for (const s of sources) {
  const crate = crateOf(s.mod);
  // Module paths inside the crate: the library's from lib.rs, a binary's from its main.rs.
  const inCrate = crate === "lib" ? s.mod : s.mod.slice(2);
  const absolute = (path) => (crate === "lib" ? path : s.mod.slice(0, 2).concat(path));
  for (const p of paths(s.code)) {
    let target;
    if (p[0] === "crate") target = p.slice(1);
    else if (p[0] === "super") {
      let up = inCrate.slice(0, -1);
      let rest = p.slice(1);
      while (rest[0] === "super") {
        up = up.slice(0, -1);
        rest = rest.slice(1);
      }
      target = up.concat(rest);
    } else continue;
    const resolved = resolve(crate, absolute(target));
    if (!resolved || resolved === s) continue;
    // A parent module naming its own descendants owns them; that is no import.
    const owns = resolved.mod.length > s.mod.length && s.mod.every((seg, i) => resolved.mod[i] === seg);
    if (owns) continue;
    edges.get(s.rel).add(resolved.rel);
    if (crate !== "lib") continue;
    const [from, to] = [s.mod[0], resolved.mod[0]];
    if (from === undefined || to === undefined || from === to) continue;
    const [rf, rt] = [RANK.get(from), RANK.get(to)];
    if (rf === undefined) problems.push(`${s.rel}: module '${from}' has no layer (add it to LAYERS)`);
    else if (rt === undefined) problems.push(`${resolved.rel}: module '${to}' has no layer (add it to LAYERS)`);
    else if (rt >= rf)
      problems.push(
        `${s.rel}: '${p.join("::")}' — layer '${from}' (${rf}) may not import '${to}' (${rt}): ` +
          "only lower layers",
      );
  }
}

// Cycles: strongly connected components of more than one file (Tarjan).
{
  let index = 0;
  const stack = [];
  const info = new Map();
  const strong = (v) => {
    info.set(v, { index, low: index, on: true });
    index++;
    stack.push(v);
    for (const w of edges.get(v)) {
      if (!info.has(w)) {
        strong(w);
        info.get(v).low = Math.min(info.get(v).low, info.get(w).low);
      } else if (info.get(w).on) info.get(v).low = Math.min(info.get(v).low, info.get(w).index);
    }
    if (info.get(v).low === info.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        info.get(w).on = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1) problems.push(`import cycle: ${component.sort().join(" <-> ")}`);
    }
  };
  for (const v of edges.keys()) if (!info.has(v)) strong(v);
}

// Sizes.
const FN = /^(\s*)(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)/;
for (const s of sources) {
  const lines = s.text.split("\n");
  if (lines.length > MAX_FILE_LINES) problems.push(`${s.rel}: ${lines.length} lines (at most ${MAX_FILE_LINES})`);
  lines.forEach((line, i) => {
    const m = FN.exec(line);
    if (!m) return;
    const indent = m[1];
    let j = i;
    // The signature ends at the line ending in `{` (body) or `;` (a declaration without body).
    while (j < lines.length && !/[{;]\s*$/.test(lines[j])) j++;
    if (j >= lines.length || lines[j].trimEnd().endsWith(";") || /\{\s*\}\s*$/.test(lines[j])) return;
    let end = j + 1;
    while (end < lines.length && lines[end] !== `${indent}}`) end++;
    const length = end - i + 1;
    if (length > MAX_FN_LINES) problems.push(`${s.rel}:${i + 1}: fn ${m[2]} is ${length} lines (at most ${MAX_FN_LINES})`);
  });
}

if (problems.length) {
  const unique = [...new Set(problems)];
  console.error(`check-layers: ${unique.length} problem(s) in ${root}`);
  for (const p of unique) console.error(`  ${p}`);
  process.exit(1);
}
const imports = [...edges.values()].reduce((n, e) => n + e.size, 0);
console.log(`check-layers: ${sources.length} files, ${imports} imports between them in ${relative(repo, root) || root}: layers, cycles and sizes ok`);
