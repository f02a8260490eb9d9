#!/usr/bin/env node
// Renames the wasm module's imports and exports in wasm-bindgen's JS glue after
// `wasm-opt --minify-imports-and-exports-and-modules` gave them one-letter names (issue 3 size budget:
// wasm-bindgen's import names carry 16-hex-digit hashes, and every name is in both the .wasm and the glue).
//
//   scripts/minify-wasm-names.mjs <wasm-opt's JSON map> <minified .wasm> <glue.js>...
//
// The glue references imports only as keys of its import object (`__wbg_x_0123…: function`, once each)
// under the module's name (`"./appkeys_bg.js": import0`), and exports only as `wasm.<name>`. Every rename
// is checked: each import key and the module key must occur exactly once, the import object must end up with
// exactly the module's imports (entries of imports the optimiser removed are dropped), and no
// `wasm.<old name>` may be left; otherwise this fails and the build stops.
import { readFileSync, writeFileSync } from "node:fs";

const [mapFile, wasmFile, ...glueFiles] = process.argv.slice(2);
const die = (message) => {
  console.error(`minify-wasm-names: ${message}`);
  process.exit(1);
};
if (!glueFiles.length) die("usage: minify-wasm-names.mjs <map.json> <module.wasm> <glue.js>...");

const map = JSON.parse(readFileSync(mapFile, "utf8"));
const oldModules = [...new Set(map.imports.map(([module]) => module))];
const newModules = [
  ...new Set(WebAssembly.Module.imports(new WebAssembly.Module(readFileSync(wasmFile))).map((i) => i.module)),
];
if (oldModules.length !== 1 || newModules.length !== 1) {
  die(`expected one import module, got ${JSON.stringify(oldModules)} -> ${JSON.stringify(newModules)}`);
}
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function replaceExactly(text, pattern, replacement, what, count) {
  const found = text.match(new RegExp(pattern, "g"))?.length ?? 0;
  if (count !== undefined && found !== count) die(`${what}: expected ${count} occurrence(s), found ${found}`);
  return text.replace(new RegExp(pattern, "g"), replacement);
}

for (const file of glueFiles) {
  let glue = readFileSync(file, "utf8");
  glue = replaceExactly(
    glue,
    `"${escape(oldModules[0])}": import0`,
    `"${newModules[0]}": import0`,
    `${file}: module key`,
    1,
  );
  for (const [, name, short] of map.imports) {
    glue = replaceExactly(glue, `\\b${escape(name)}:`, `${short}:`, `${file}: import ${name}`, 1);
  }
  // Imports the optimised module no longer has (wasm-opt removed their last use): drop their entries, which
  // wasm-bindgen writes as `        name: function(…) {` … `        },`.
  const imported = new Set(map.imports.map(([, , s]) => s));
  const lines = glue.split("\n");
  const kept = [];
  for (let i = 0; i < lines.length; i++) {
    const entry = lines[i].match(/^ {8}([\w$]+): function/);
    if (entry && !imported.has(entry[1])) {
      while (i < lines.length && !/^ {8}\},?$/.test(lines[i])) i++;
      continue;
    }
    kept.push(lines[i]);
  }
  glue = kept.join("\n");
  const keys = [...glue.matchAll(/^ {8}([\w$]+): function/gm)].map((m) => m[1]).sort();
  if (keys.join() !== [...imported].sort().join()) die(`${file}: import entries ${keys} != ${[...imported]}`);
  // Two passes through a placeholder, so that a new name never gets renamed again.
  for (const [name, short] of map.exports) {
    glue = replaceExactly(glue, `\\bwasm\\.${escape(name)}\\b`, `wasm.\u0000${short}`, `${file}: export ${name}`);
  }
  glue = glue.replaceAll("\u0000", "");
  const left = map.exports.filter(([name]) => new RegExp(`\\bwasm\\.${escape(name)}\\b`).test(glue));
  const short = new Set(map.exports.map(([, s]) => s));
  const unknown = [...glue.matchAll(/\bwasm\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1]).filter((n) => !short.has(n));
  if (left.length || unknown.length) die(`${file}: unrenamed exports: ${[...left.map(([n]) => n), ...unknown]}`);
  writeFileSync(file, glue);
}
