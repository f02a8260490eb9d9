// Where the SDK's wasm bytes go, by crate and by function: reads the module rustc/wasm-ld wrote
// (target/wasm32-unknown-unknown/wasm-release/appkeys.wasm, which still has its name section) and sizes every
// function body of its code section. Those are sizes before wasm-bindgen (which drops its `__wbindgen_describe_*`
// functions) and wasm-opt (which shrinks the rest), so they rank the parts rather than add up to the package's wasm.
// Used by `bench/bundle-size --explain` and by the size budget test (its largest contributors).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const wasmPath = join(resolve(dirname(fileURLToPath(import.meta.url)), ".."),
  "target/wasm32-unknown-unknown/wasm-release/appkeys.wasm");

/** Crates named in symbols, checked in this order (the first one a symbol names is its crate). */
const CRATES = [
  "appkeys_protocol", "appkeys", "serde_wasm_bindgen", "serde_path_to_error", "serde_core", "serde_json", "serde",
  "wasm_bindgen_futures", "wasm_bindgen", "js_sys", "web_sys", "gloo_net", "gloo_utils", "hashbrown", "lol_alloc",
  "dlmalloc", "compiler_builtins", "alloc", "core", "std",
];

function leb(buf, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

/** The identifiers of a mangled Rust symbol (legacy `_ZN…E` or v0 `_R…`): its path segments, roughly. */
function segments(symbol) {
  const out = [];
  const re = /(\d+)_?([A-Za-z_][A-Za-z0-9_]*)/g;
  let m;
  while ((m = re.exec(symbol))) {
    const n = Number(m[1]);
    const ident = m[2].slice(0, n);
    if (ident.length === n) out.push(ident);
    re.lastIndex = m.index + m[1].length + (m[0].length - m[1].length - m[2].length) + n;
  }
  return out;
}

/** The crate a function belongs to. */
export function crateOf(name) {
  if (name.startsWith("__wbindgen_describe")) return "(wasm-bindgen descriptors, dropped from the package)";
  if (name.startsWith("__wbg_") || name.startsWith("__wbindgen")) return "wasm_bindgen";
  // A plain path (`appkeys::app::…`, `core::num::…`): its first segment that is a crate.
  const first = segments(name).find((s) => CRATES.includes(s));
  if (first && !name.includes("$LT$")) return first;
  // An impl (`<serde_wasm_bindgen::de::Deserializer as serde_core::…>::…`): the crate named first in it.
  let best = null;
  for (const c of CRATES) {
    const m = new RegExp(`(^|[^A-Za-z0-9_])(?:\\d+)?${c}(?=\\.\\.|::|\\d|[A-Z])`).exec(name);
    if (m && (best === null || m.index < best.index || (m.index === best.index && c.length > best.crate.length))) {
      best = { index: m.index, crate: c };
    }
  }
  return best ? best.crate : "(other)";
}

/** Every function body: [{ name, size }], largest first. `null` when the module is not built. */
export function functions(path = wasmPath) {
  if (!existsSync(path)) return null;
  const buf = readFileSync(path);
  const sections = new Map();
  for (let at = 8; at < buf.length; ) {
    const id = buf[at++];
    const [size, start] = leb(buf, at);
    if (id === 0) {
      const [n, nameAt] = leb(buf, start);
      sections.set(buf.subarray(nameAt, nameAt + n).toString(), [nameAt + n, start + size]);
    } else {
      sections.set(id, [start, start + size]);
    }
    at = start + size;
  }
  // Imported functions come first in the function index space.
  let imported = 0;
  if (sections.has(2)) {
    let [at] = sections.get(2);
    let count;
    [count, at] = leb(buf, at);
    for (let i = 0; i < count; i++) {
      let n;
      [n, at] = leb(buf, at);
      at += n;
      [n, at] = leb(buf, at);
      at += n;
      const kind = buf[at++];
      if (kind === 0) {
        [, at] = leb(buf, at);
        imported++;
      } else if (kind === 1) {
        at++;
        const [flags, a] = leb(buf, at);
        [, at] = leb(buf, a);
        if (flags & 1) [, at] = leb(buf, at);
      } else if (kind === 2) {
        const [flags, a] = leb(buf, at);
        [, at] = leb(buf, a);
        if (flags & 1) [, at] = leb(buf, at);
      } else {
        at += 2;
      }
    }
  }
  const names = new Map();
  if (sections.has("name")) {
    let [at, end] = sections.get("name");
    while (at < end) {
      const sub = buf[at++];
      const [len, body] = leb(buf, at);
      if (sub === 1) {
        let [count, p] = leb(buf, body);
        for (let i = 0; i < count; i++) {
          let idx;
          let n;
          [idx, p] = leb(buf, p);
          [n, p] = leb(buf, p);
          names.set(idx, buf.subarray(p, p + n).toString());
          p += n;
        }
      }
      at = body + len;
    }
  }
  const out = [];
  let [at] = sections.get(10);
  let count;
  [count, at] = leb(buf, at);
  for (let i = 0; i < count; i++) {
    let size;
    [size, at] = leb(buf, at);
    out.push({ name: names.get(imported + i) || `function ${imported + i}`, size });
    at += size;
  }
  return out.sort((a, b) => b.size - a.size);
}

/** The breakdown: total code bytes, by crate (largest first) and the largest functions. */
export function explain(top = 15) {
  const fns = functions();
  if (!fns) return null;
  const total = fns.reduce((n, f) => n + f.size, 0);
  const byCrate = new Map();
  for (const f of fns) {
    const c = crateOf(f.name);
    byCrate.set(c, (byCrate.get(c) || 0) + f.size);
  }
  return {
    total,
    crates: [...byCrate].sort((a, b) => b[1] - a[1]).map(([crate, size]) => ({ crate, size })),
    largest: fns.slice(0, top).map((f) => ({ ...f, crate: crateOf(f.name), path: segments(f.name).join("::") })),
  };
}

/** The breakdown as lines of text. */
export function explainText(top = 15) {
  const e = explain(top);
  if (!e) return [`(no ${wasmPath}: build the package first, scripts/build-pkg.sh)`];
  const pct = (n) => `${((100 * n) / e.total).toFixed(1).padStart(5)} %`;
  const lines = [`wasm code by crate (function bodies before wasm-bindgen and wasm-opt; ${e.total.toLocaleString("en-US")} B):`];
  for (const c of e.crates.slice(0, 14)) lines.push(`  ${c.crate.padEnd(52)} ${String(c.size).padStart(8)} B ${pct(c.size)}`);
  lines.push(`largest functions:`);
  for (const f of e.largest) lines.push(`  ${String(f.size).padStart(6)} B  ${f.crate.padEnd(20)} ${f.path.slice(0, 90)}`);
  return lines;
}
