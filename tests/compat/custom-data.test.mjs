// Issue 31: custom user data through unmodified realm-web 2.0.1 and our SDK against a real appkeys-server. The
// app's backend writes a user's data with the admin API (HTTP Basic, --admin-credentials-file); both SDKs read it
// as `user.customData` after login and, after another write, from `await user.refreshCustomData()`. Runs on
// SQLite and PostgreSQL (tests/compat is run on both).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Realm from "realm-web";
import * as Appkeys from "appkeys";
import { startServer } from "../support/server.mjs";
import { APP_ID, TestStorage } from "../support/util.mjs";

const ADMIN = "backend:the backend's admin secret for custom data";
let server;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "appkeys-customdata-"));
  const file = join(dir, "admin-credentials");
  writeFileSync(file, `${ADMIN}\n`, { mode: 0o600 });
  server = await startServer({ args: ["--admin-credentials-file", file] });
});

after(async () => {
  await server?.stop();
});

/** The backend's write of `userId`'s custom data. */
async function setCustomData(userId, data) {
  const response = await fetch(`${server.url}/api/admin/v1/users/${userId}/custom_data`, {
    method: "PUT",
    headers: { authorization: `Basic ${Buffer.from(ADMIN).toString("base64")}`, "content-type": "application/json" },
    body: JSON.stringify(data),
  });
  assert.equal(response.status, 204, await response.text());
}

const sdks = {
  "realm-web": () => new Realm.App({ id: APP_ID, baseUrl: server.url }),
  appkeys: () => new Appkeys.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() }),
};
const credentials = { "realm-web": Realm.Credentials, appkeys: Appkeys.Credentials };

for (const [name, makeApp] of Object.entries(sdks)) {
  test(`${name}: customData after login and after refreshCustomData()`, async () => {
    const app = makeApp();
    const email = `custom-${name}-${Date.now()}@example.com`;
    await app.emailPasswordAuth.registerUser({ email, password: "correct horse battery" });
    let user = await app.logIn(credentials[name].emailPassword(email, "correct horse battery"));
    assert.deepEqual({ ...user.customData }, {}, "no data yet: {}");
    await setCustomData(user.id, { plan: "pro", roles: ["editor"] });
    // The current token predates the write; a refresh carries it.
    assert.deepEqual({ ...user.customData }, {});
    const refreshed = await user.refreshCustomData();
    assert.deepEqual(refreshed, { plan: "pro", roles: ["editor"] });
    assert.deepEqual(user.customData, { plan: "pro", roles: ["editor"] });
    // A new login carries the latest data at once.
    await setCustomData(user.id, { plan: "team" });
    await user.logOut();
    user = await app.logIn(credentials[name].emailPassword(email, "correct horse battery"));
    assert.deepEqual(user.customData, { plan: "team" });
  });
}

test("appkeys: customData without an access token throws as realm-web does", async () => {
  const app = sdks.appkeys();
  const anon = await app.logIn(Appkeys.Credentials.anonymous());
  await anon.logOut();
  assert.throws(() => anon.customData, { message: "Cannot read custom data without an access token" });
});
