// The layer check of scripts/check-layers.mjs: passes on the real server/src, and fails — naming the
// file and the rule — on copies with a deliberate upward import, an import cycle, an oversized file and
// an oversized function.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const checker = join(repo, "scripts/check-layers.mjs");
const check = (root) => spawnSync(process.execPath, [checker, ...(root ? ["--root", root] : [])], { encoding: "utf8" });

/** A copy of server/src with `change(root)` applied; the checker's result on it. */
function checkChanged(change) {
  const root = mkdtempSync(join(tmpdir(), "appkeys-layers-"));
  try {
    cpSync(join(repo, "server/src"), root, { recursive: true });
    change(root);
    return check(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const prepend = (root, file, line) => {
  const path = join(root, file);
  writeFileSync(path, `${line}\n${readFileSync(path, "utf8")}`);
};

test("the server source follows the layering rule", () => {
  const r = check();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /layers, cycles and sizes ok/);
});

test("a lower layer importing a higher one fails the check", () => {
  for (const [file, line, from, to] of [
    ["db/users.rs", "use crate::http::extract::ClientIp;", "db", "http"],
    ["model/audit.rs", "use crate::state::AppState;", "model", "state"],
    ["crypto/token.rs", "fn f() { let _ = crate::db::Backend::Sqlite; }", "crypto", "db"],
    ["service/ratelimit.rs", "use crate::{db::Store, state::{self, AppState}};", "service", "state"],
    ["jobs.rs", "use crate::http::app;", "jobs", "http"],
  ]) {
    const r = checkChanged((root) => prepend(root, file, line));
    assert.equal(r.status, 1, `${file}: ${line}\n${r.stdout}`);
    assert.match(r.stderr, new RegExp(`${file}: .*layer '${from}' .* may not import '${to}'`));
  }
});

test("modules importing each other in a circle fail the check", () => {
  const r = checkChanged((root) => {
    prepend(root, "http/routes/login.rs", "use super::userpass::confirm;");
    prepend(root, "http/routes/userpass.rs", "use super::login::login;");
  });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /import cycle: http\/routes\/login\.rs <-> http\/routes\/userpass\.rs/);
  const through = checkChanged((root) => prepend(root, "service/metrics.rs", "use super::mail::Mailer;"));
  assert.equal(through.status, 1);
  assert.match(through.stderr, /import cycle: service\/mail\.rs <-> service\/metrics\.rs/);
});

test("an oversized file or function fails the check", () => {
  const big = checkChanged((root) =>
    writeFileSync(join(root, "util.rs"), readFileSync(join(root, "util.rs"), "utf8") + "//\n".repeat(600)),
  );
  assert.equal(big.status, 1);
  assert.match(big.stderr, /util\.rs: \d+ lines \(at most 600\)/);
  const long = checkChanged((root) => {
    const body = Array.from({ length: 125 }, (_, i) => `    let _x${i} = ${i};`).join("\n");
    writeFileSync(join(root, "util.rs"), readFileSync(join(root, "util.rs"), "utf8") + `\npub fn long() {\n${body}\n}\n`);
  });
  assert.equal(long.status, 1);
  assert.match(long.stderr, /util\.rs:\d+: fn long is 127 lines \(at most 120\)/);
});
