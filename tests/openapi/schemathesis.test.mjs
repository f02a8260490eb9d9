// The OpenAPI document (GET /openapi.json, generated from the code) fuzzed by schemathesis against a real
// appkeys-server on SQLite, with a real access and refresh token: no server error, and no status code, content
// type, header or body that contradicts the document. Bounded: a fixed number of examples per operation.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startServer } from "../support/server.mjs";
import { APP_ID, PASSWORD, uniqueEmail } from "../support/util.mjs";

const run = promisify(execFile);
let server;
let dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "appkeys-schemathesis-"));
  // Email configured (written to files), so that the confirmation and reset routes reach their logic.
  server = await startServer({
    args: [
      "--mail-dir", join(dir, "mail"),
      "--confirm-url", "http://keys.example.test/confirm",
      "--reset-url", "http://keys.example.test/reset",
    ],
  });
});
after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function call(method, path, body) {
  const res = await fetch(`${server.url}/api/client/v2.0${path}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return res.json().catch(() => null);
}

test("the OpenAPI document is OpenAPI 3.1 and lists every route", async () => {
  const doc = await (await fetch(`${server.url}/openapi.json`)).json();
  assert.equal(doc.openapi, "3.1.0");
  for (const path of [
    "/api/client/v2.0/app/{app_id}/location",
    "/api/client/v2.0/app/{app_id}/auth/providers/{provider}/login",
    "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/register",
    "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/confirm",
    "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/confirm/send",
    "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/confirm/call",
    "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/reset",
    "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/reset/send",
    "/api/client/v2.0/app/{app_id}/auth/providers/local-userpass/reset/call",
    "/api/client/v2.0/auth/profile",
    "/api/client/v2.0/auth/session",
    "/api/client/v2.0/auth/delete",
    "/api/client/v2.0/auth/api_keys",
    "/api/client/v2.0/auth/api_keys/{id}",
    "/api/client/v2.0/auth/api_keys/{id}/enable",
    "/api/client/v2.0/auth/api_keys/{id}/disable",
    "/api/client/v2.0/auth/api_keys/{id}/roll",
    "/api/client/v2.0/auth/api_keys/{id}/allowed_ips",
    "/api/client/v2.0/auth/api_keys/{id}/usage",
    "/api/admin/v1/users/{user_id}/custom_data",
    "/healthz",
    "/readyz",
    "/metrics",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/oauth/introspect",
  ]) {
    assert.ok(doc.paths[path], `${path} is documented`);
  }
  // adminClient: the admin API of issue 31 (custom user data).
  assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ["accessToken", "adminClient", "introspectionClient", "refreshToken"]);
  const created = doc.paths["/api/client/v2.0/auth/api_keys"].post.responses;
  assert.ok(created["201"] && created["401"] && created["429"].headers["Retry-After"]);
});

test("schemathesis: no server error, nothing contradicts the document", { timeout: 600_000 }, async () => {
  const email = uniqueEmail("fuzz");
  await call("POST", `/app/${APP_ID}/auth/providers/local-userpass/register`, { email, password: PASSWORD });
  const tokens = await call("POST", `/app/${APP_ID}/auth/providers/local-userpass/login`, { username: email, password: PASSWORD });
  assert.ok(tokens?.access_token && tokens?.refresh_token);
  const config = join(dir, "schemathesis.toml");
  writeFileSync(
    config,
    [
      `[auth.openapi.accessToken]`,
      `bearer = "${tokens.access_token}"`,
      `[auth.openapi.refreshToken]`,
      `bearer = "${tokens.refresh_token}"`,
      // The served app, so that the app routes reach their logic rather than 404.
      `[parameters]`,
      `"path.app_id" = "${APP_ID}"`,
      "",
    ].join("\n"),
  );
  const checks = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
  ].join(",");
  let output;
  try {
    // `python3 -m schemathesis.cli`: the package pip installed, whether or not its script is on PATH.
    const r = await run(
      "python3",
      [
        "-m", "schemathesis.cli",
        "--config-file", config,
        "run", `${server.url}/openapi.json`,
        "--checks", checks,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", "25",
        "--generation-deterministic",
        "--request-timeout", "10",
        "--no-color",
      ],
      { cwd: dir, maxBuffer: 64 * 1024 * 1024, timeout: 540_000 },
    );
    output = r.stdout + r.stderr;
  } catch (e) {
    assert.fail(`schemathesis reported failures (exit ${e.code}):\n${e.stdout}\n${e.stderr}`);
  }
  console.log(output.split("\n").slice(-25).join("\n")); // the summary, for the CI log
  assert.match(output, /passed|Test cases|No issues found/i, output);
});
