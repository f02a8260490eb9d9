// Conformance with realm-core v14 (the library under every Realm device SDK: Node `realm` 12.x, Swift, Kotlin,
// Dart, .NET, React Native), issue 23. realm-core cannot be installed here (its npm install downloads a native
// binary), so this replays the requests it sends — its headers (`Content-Type: application/json;charset=utf-8`,
// `Accept: application/json`), its bodies (`options.device` without a `deviceId`, empty bodies), its flow (location
// first, then everything on the `hostname` it returns) — against a real appkeys-server, and checks every field and
// rule realm-core requires of the answers (shared/reference/app-services-migration.md, from app.cpp, app_utils.cpp
// and jwt.cpp at v14.14.0).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../support/server.mjs";
import { startSmtpSink, linkOf } from "../support/smtp-sink.mjs";
import { APP_ID, PASSWORD, uniqueEmail } from "../support/util.mjs";

let server;
let sink;
before(async () => {
  // Confirmation links prove an address before it is linked (issue 29).
  sink = await startSmtpSink();
  server = await startServer({
    args: ["--smtp-url", sink.url, "--confirm-url", "http://core.example.test/confirm", "--reset-url", "http://core.example.test/reset"],
  });
});
after(async () => {
  await server?.stop();
  await sink?.close();
});

const API = "/api/client/v2.0";
// What realm-core's network transport sends with every request.
const HEADERS = { "Content-Type": "application/json;charset=utf-8", Accept: "application/json" };
// realm-core's device info (no deviceId: the server makes one).
const DEVICE = {
  appId: APP_ID,
  appVersion: "1.0.0",
  platform: "Node.js",
  platformVersion: "v20",
  sdk: "JS",
  sdkVersion: "12.15.0",
  cpuArch: "x64",
  deviceName: "unknown",
  deviceVersion: "unknown",
  frameworkName: "Node.js",
  frameworkVersion: "v20",
  coreVersion: "14.14.0",
};

/** One request as realm-core makes it: `base` is the location `hostname`; the body is always JSON text. */
async function core(base, method, path, { bearer, body } = {}) {
  const headers = { ...HEADERS };
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const res = await fetch(`${base}${API}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get("content-type"), text, json: text ? JSON.parse(text) : null };
}

/** realm-core's checks of a JWT: three parts, non-empty signature, base64url JSON payload with integer exp/iat and
 * `user_data`, if present, an object. */
function assertCoreJwt(token) {
  const parts = token.split(".");
  assert.equal(parts.length, 3, token);
  assert.ok(parts[2].length > 0, "a signature");
  const payload = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
  assert.ok(Number.isInteger(payload.exp) && Number.isInteger(payload.iat), JSON.stringify(payload));
  if ("user_data" in payload) assert.equal(typeof payload.user_data, "object");
  return payload;
}

/** realm-core parses an error only with `Content-Type: application/json` exactly; `link`, if present, a string. */
function assertCoreError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.contentType, "application/json");
  assert.equal(typeof r.json.error, "string");
  assert.equal(r.json.error_code, code);
  if ("link" in r.json) assert.equal(typeof r.json.link, "string");
}

const isHex24 = (s) => typeof s === "string" && /^[0-9a-f]{24}$/.test(s);

test("realm-core's flows: location, register, login, profile, refresh, user API keys, key login, log out, delete", async () => {
  // Location: the hostname every later request goes to — reachable, no path.
  const location = await core(server.url, "GET", `/app/${APP_ID}/location`);
  assert.equal(location.status, 200);
  for (const f of ["deployment_model", "location", "hostname", "ws_hostname"]) assert.equal(typeof location.json[f], "string", f);
  const base = location.json.hostname;
  assert.equal(new URL(base).pathname, "/", "no path in hostname");
  assert.notEqual(new URL(base).hostname, "0.0.0.0");

  // Register (realm-core sends an empty-bodied 201 back to the SDK), then log in without a deviceId.
  const email = uniqueEmail("core");
  const registered = await core(base, "POST", `/app/${APP_ID}/auth/providers/local-userpass/register`, {
    body: { email, password: PASSWORD },
  });
  assert.equal(registered.status, 201, registered.text);
  const login = await core(base, "POST", `/app/${APP_ID}/auth/providers/local-userpass/login`, {
    body: { username: email, password: PASSWORD, options: { device: DEVICE } },
  });
  assert.equal(login.status, 200, login.text);
  for (const f of ["user_id", "access_token", "refresh_token", "device_id"]) assert.equal(typeof login.json[f], "string", f);
  assert.ok(isHex24(login.json.device_id), "a device id is made");
  assertCoreJwt(login.json.access_token);
  assertCoreJwt(login.json.refresh_token);

  // Profile: identities (string id and provider_type) and data (an object).
  const profile = await core(base, "GET", "/auth/profile", { bearer: login.json.access_token });
  assert.equal(profile.status, 200);
  assert.ok(Array.isArray(profile.json.identities) && profile.json.identities.length > 0);
  for (const i of profile.json.identities) {
    assert.equal(typeof i.id, "string");
    assert.equal(typeof i.provider_type, "string");
  }
  assert.equal(typeof profile.json.data, "object");
  assert.equal(profile.json.data.email, email);

  // Refresh: an access_token.
  const refreshed = await core(base, "POST", "/auth/session", { bearer: login.json.refresh_token });
  assert.equal(refreshed.status, 200);
  assertCoreJwt(refreshed.json.access_token);

  // User API keys with the refresh token: `_id` a plain hex string, `name` a string, `disabled` a bool, `key` once.
  const created = await core(base, "POST", "/auth/api_keys", { bearer: login.json.refresh_token, body: { name: "core-key" } });
  assert.equal(created.status, 201, created.text);
  assert.ok(isHex24(created.json._id));
  assert.equal(created.json.name, "core-key");
  assert.equal(created.json.disabled, false);
  assert.equal(typeof created.json.key, "string");
  const listed = await core(base, "GET", "/auth/api_keys", { bearer: login.json.refresh_token });
  assert.equal(listed.status, 200);
  for (const k of listed.json) {
    assert.ok(isHex24(k._id) && typeof k.name === "string" && typeof k.disabled === "boolean");
    assert.ok(!("key" in k) || typeof k.key === "string");
  }
  const fetched = await core(base, "GET", `/auth/api_keys/${created.json._id}`, { bearer: login.json.refresh_token });
  assert.equal(fetched.json.name, "core-key");
  for (const action of ["disable", "enable"]) {
    const r = await core(base, "PUT", `/auth/api_keys/${created.json._id}/${action}`, { bearer: login.json.refresh_token });
    assert.equal(r.status, 204, `${action}: ${r.text}`);
  }

  // Key login (Credentials.apiKey): the key's owner, same user id.
  const keyLogin = await core(base, "POST", `/app/${APP_ID}/auth/providers/api-key/login`, {
    body: { key: created.json.key, options: { device: DEVICE } },
  });
  assert.equal(keyLogin.status, 200, keyLogin.text);
  assert.equal(keyLogin.json.user_id, login.json.user_id);

  // Only 401 triggers token handling: an expired/ended access token is 401 on an access-token route.
  const loggedOut = await core(base, "DELETE", "/auth/session", { bearer: keyLogin.json.refresh_token });
  assert.equal(loggedOut.status, 204);
  assertCoreError(await core(base, "POST", "/auth/session", { bearer: keyLogin.json.refresh_token }), 401, "InvalidSession");

  // Delete the key and the user.
  const deleted = await core(base, "DELETE", `/auth/api_keys/${created.json._id}`, { bearer: login.json.refresh_token });
  assert.equal(deleted.status, 204);
  const gone = await core(base, "DELETE", "/auth/delete", { bearer: login.json.access_token });
  assert.equal(gone.status, 204);
  assertCoreError(await core(base, "GET", "/auth/profile", { bearer: login.json.access_token }), 401, "InvalidSession");
});

test("realm-core's anonymous login, empty bodies, linking and error parsing", async () => {
  const anon = await core(server.url, "POST", `/app/${APP_ID}/auth/providers/anon-user/login`, {
    body: { options: { device: DEVICE } },
  });
  assert.equal(anon.status, 200, anon.text);
  assertCoreJwt(anon.json.access_token);
  // Linking (`?link=true` with the access token): a JSON error, never another user's tokens.
  const linking = await core(server.url, "POST", `/app/${APP_ID}/auth/providers/local-userpass/login?link=true`, {
    bearer: anon.json.access_token,
    body: { username: uniqueEmail("nobody"), password: PASSWORD, options: { device: DEVICE } },
  });
  assert.ok(linking.status >= 400 && linking.status < 500, linking.text);
  assertCoreError(linking, linking.status, linking.json.error_code);
  assert.ok(!("access_token" in linking.json));
  // A link that works (issue 24): realm-core stores the answer's access token on the linking user, so it must be
  // that user's — and the profile it fetches next lists both identities.
  const email = uniqueEmail("core-link");
  const registered = await core(server.url, "POST", `/app/${APP_ID}/auth/providers/local-userpass/register`, {
    body: { email, password: PASSWORD },
  });
  assert.equal(registered.status, 201, registered.text);
  // Issue 29: the address must be proven by a link sent to it before the account joins another user.
  const unproven = await core(server.url, "POST", `/app/${APP_ID}/auth/providers/local-userpass/login?link=true`, {
    bearer: anon.json.access_token,
    body: { username: email, password: PASSWORD, provider: "local-userpass", options: { device: DEVICE } },
  });
  assertCoreError(unproven, 401, "UserNotConfirmed");
  const asked = await core(server.url, "POST", `/app/${APP_ID}/auth/providers/local-userpass/confirm/send`, {
    body: { email },
  });
  assert.equal(asked.status, 202, asked.text);
  const { token, tokenId } = linkOf(await sink.waitFor((m) => m.to.includes(email)));
  const confirmed = await core(server.url, "POST", `/app/${APP_ID}/auth/providers/local-userpass/confirm`, {
    body: { token, tokenId },
  });
  assert.equal(confirmed.status, 204, confirmed.text);
  const linked = await core(server.url, "POST", `/app/${APP_ID}/auth/providers/local-userpass/login?link=true`, {
    bearer: anon.json.access_token,
    body: { username: email, password: PASSWORD, provider: "local-userpass", options: { device: DEVICE } },
  });
  assert.equal(linked.status, 200, linked.text);
  assert.equal(assertCoreJwt(linked.json.access_token).sub, anon.json.user_id);
  const profile = await core(server.url, "GET", "/auth/profile", { bearer: linked.json.access_token });
  assert.deepEqual(profile.json.identities.map((i) => i.provider_type), ["anon-user", "local-userpass"]);
  assert.equal(profile.json.data.email, email);
  // Errors realm-core maps: wrong password, unknown app, unknown key — JSON, exactly typed.
  assertCoreError(
    await core(server.url, "POST", `/app/${APP_ID}/auth/providers/local-userpass/login`, {
      body: { username: uniqueEmail("ghost"), password: "not the password", options: { device: DEVICE } },
    }),
    401,
    "InvalidPassword",
  );
  assertCoreError(await core(server.url, "GET", "/app/no-such-app/location"), 404, "AppNotFound");
  assertCoreError(
    await core(server.url, "POST", `/app/${APP_ID}/auth/providers/api-key/login`, {
      body: { key: `appk_${"x".repeat(49)}`, options: { device: DEVICE } },
    }),
    401,
    "AuthError",
  );
});
