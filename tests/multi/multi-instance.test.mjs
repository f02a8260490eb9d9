// Several appkeys-server processes sharing one database (issue 5).
// Two real server processes, A and B, on different ports and one database (PostgreSQL when
// APPKEYS_TEST_BACKEND=postgres, else one SQLite file). Talks the wire protocol with plain fetch, so it tests the
// servers, not a client library.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { startServer, freshDatabase, backend } from "../support/server.mjs";

const APP = "appkeys-demo";
const P = "/api/client/v2.0";
let A;
let B;

let db;

before(async () => {
  db = freshDatabase();
  // On PostgreSQL the instances connect over TLS (scripts/pg.sh enables it), as they would to a remote database.
  const databaseUrl = backend === "postgres" ? `${db.url}?sslmode=require` : db.url;
  A = await startServer({ databaseUrl });
  B = await startServer({ databaseUrl });
  assert.notEqual(A.url, B.url, "two instances on two ports");
});

after(async () => {
  await B?.stop();
  await A?.stop();
  db?.cleanup();
});

async function call(server, method, path, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(server.url + P + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function newUser(server) {
  const email = `multi-${randomBytes(6).toString("hex")}@example.com`;
  const password = "correct horse battery";
  const reg = await call(server, "POST", `/app/${APP}/auth/providers/local-userpass/register`, {
    body: { email, password },
  });
  assert.equal(reg.status, 201);
  const login = await call(server, "POST", `/app/${APP}/auth/providers/local-userpass/login`, {
    body: { username: email, password },
  });
  assert.equal(login.status, 200);
  return login.json;
}

const keyLogin = (server, key) =>
  call(server, "POST", `/app/${APP}/auth/providers/api-key/login`, { body: { key } });

test(`[${backend}] tokens issued by one instance are accepted by the other`, async () => {
  const session = await newUser(A);
  const profile = await call(B, "GET", "/auth/profile", { token: session.access_token });
  assert.equal(profile.status, 200);
  assert.equal(profile.json.user_id, session.user_id);
  const refreshed = await call(B, "POST", "/auth/session", { token: session.refresh_token });
  assert.equal(refreshed.status, 200);
  assert.equal(typeof refreshed.json.access_token, "string");
  assert.equal((await call(A, "GET", "/auth/profile", { token: refreshed.json.access_token })).status, 200);
});

test(`[${backend}] a key created via A logs in via B as the same user`, async () => {
  const owner = await newUser(A);
  const created = await call(A, "POST", "/auth/api_keys", { token: owner.refresh_token, body: { name: "shared" } });
  assert.equal(created.status, 201);
  const viaB = await keyLogin(B, created.json.key);
  assert.equal(viaB.status, 200);
  assert.equal(viaB.json.user_id, owner.user_id);
  const listedViaB = await call(B, "GET", "/auth/api_keys", { token: owner.refresh_token });
  assert.deepEqual(
    listedViaB.json.map((k) => [k._id, k.name, k.disabled]),
    [[created.json._id, "shared", false]],
  );
});

test(`[${backend}] disabling via B refuses the key via A at once and ends A-issued key sessions`, async () => {
  const owner = await newUser(A);
  const created = await call(A, "POST", "/auth/api_keys", { token: owner.refresh_token, body: { name: "revoke-me" } });
  const keySession = (await keyLogin(A, created.json.key)).json;
  assert.equal((await call(A, "GET", "/auth/profile", { token: keySession.access_token })).status, 200);

  const disabled = await call(B, "PUT", `/auth/api_keys/${created.json._id}/disable`, { token: owner.refresh_token });
  assert.equal(disabled.status, 204);

  const refused = await keyLogin(A, created.json.key);
  assert.equal(refused.status, 401);
  assert.equal(refused.json.error_code, "AuthError");
  const profile = await call(A, "GET", "/auth/profile", { token: keySession.access_token });
  assert.equal(profile.status, 401);
  assert.equal(profile.json.error_code, "InvalidSession");
  const refresh = await call(A, "POST", "/auth/session", { token: keySession.refresh_token });
  assert.equal(refresh.status, 401);
  assert.equal(refresh.json.error_code, "InvalidSession");
  // The owner's own email/password session is untouched.
  assert.equal((await call(A, "GET", "/auth/profile", { token: owner.access_token })).status, 200);

  assert.equal(
    (await call(A, "PUT", `/auth/api_keys/${created.json._id}/enable`, { token: owner.refresh_token })).status,
    204,
  );
  const again = await keyLogin(B, created.json.key);
  assert.equal(again.status, 200);
  assert.equal(again.json.user_id, owner.user_id);
});

test(`[${backend}] 50 concurrent creates of one name across A and B: exactly one succeeds`, async () => {
  const owner = await newUser(A);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      call(i % 2 ? B : A, "POST", "/auth/api_keys", { token: owner.refresh_token, body: { name: "race" } }),
    ),
  );
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 201).length, 1, `statuses: ${statuses}`);
  assert.equal(statuses.filter((s) => s === 409).length, 49, `statuses: ${statuses}`);
  for (const r of results.filter((r) => r.status === 409)) assert.equal(r.json.error_code, "APIKeyAlreadyExists");
  const list = await call(B, "GET", "/auth/api_keys", { token: owner.refresh_token });
  assert.equal(list.json.length, 1);
});

test(`[${backend}] the 20-key limit holds under concurrent creates across A and B`, async () => {
  const owner = await newUser(A);
  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      call(i % 2 ? B : A, "POST", "/auth/api_keys", { token: owner.refresh_token, body: { name: `k${i}` } }),
    ),
  );
  const statuses = results.map((r) => r.status);
  assert.equal(statuses.filter((s) => s === 201).length, 20, `statuses: ${statuses}`);
  assert.equal(statuses.filter((s) => s === 403).length, 10, `statuses: ${statuses}`);
  const list = await call(A, "GET", "/auth/api_keys", { token: owner.refresh_token });
  assert.equal(list.json.length, 20);
});

test(`[${backend}] a user deleted via A cannot refresh via B`, async () => {
  const doomed = await newUser(A);
  const key = await call(B, "POST", "/auth/api_keys", { token: doomed.refresh_token, body: { name: "gone" } });
  assert.equal(key.status, 201);
  assert.equal((await call(A, "DELETE", "/auth/delete", { token: doomed.access_token })).status, 204);
  const refresh = await call(B, "POST", "/auth/session", { token: doomed.refresh_token });
  assert.equal(refresh.status, 401);
  assert.equal(refresh.json.error_code, "InvalidSession");
  assert.equal((await keyLogin(B, key.json.key)).status, 401);
});

if (backend === "postgres") {
  test("[postgres] every database connection of both instances is encrypted (sslmode=require)", async () => {
    await call(A, "GET", `/app/${APP}/location`);
    await call(B, "GET", `/app/${APP}/location`);
    const name = new URL(db.url).pathname.slice(1);
    const row = execFileSync(
      "psql",
      [
        process.env.APPKEYS_TEST_PG_ADMIN_URL,
        "-Atc",
        `SELECT count(*), coalesce(bool_and(s.ssl), false) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
         WHERE a.datname = '${name}'`,
      ],
      { encoding: "utf8" },
    ).trim();
    const [count, allEncrypted] = row.split("|");
    assert.ok(Number(count) >= 2, `connections of both instances are open: ${row}`);
    assert.equal(allEncrypted, "t", `all encrypted: ${row}`);
  });
}

test(`[${backend}] rate limits hold across instances: failures via A and B count together`, async () => {
  const email = `limits-${randomBytes(6).toString("hex")}@example.com`;
  const path = `/app/${APP}/auth/providers/local-userpass/login`;
  // 10 failures per account and client per minute (the default), alternating between the instances.
  for (let i = 0; i < 10; i++) {
    const r = await call(i % 2 ? B : A, "POST", path, { body: { username: email, password: "guess-guess" } });
    assert.equal(r.status, 401, `failure ${i + 1}`);
  }
  for (const server of [A, B]) {
    const res = await fetch(server.url + P + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: email, password: "guess-guess" }),
    });
    assert.equal(res.status, 429);
    assert.equal((await res.json()).error_code, "TooManyRequests");
    assert.ok(Number(res.headers.get("retry-after")) >= 1);
  }
});
