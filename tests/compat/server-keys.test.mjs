// Server API keys (issue 23): created by the operator with `appkeys-server keys create --server NAME --app ID`,
// used by a backend service through unmodified realm-web 2.0.1 and our SDK with `Credentials.apiKey(key)` (realm-web
// also with `Credentials.serverApiKey(key)`): the session belongs to the key's own `server` user, which manages no
// user keys; a revoked key no longer logs in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as Realm from "realm-web";
import * as Appkeys from "appkeys";
import { serverBin, startServer } from "../support/server.mjs";
import { APP_ID, TestStorage, rejectsWith } from "../support/util.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

const admin = (...args) =>
  execFileSync(serverBin, [...args, "--database-url", server.databaseUrl], {
    encoding: "utf8",
    env: { ...process.env, APPKEYS_DATABASE_URL: "" },
  });

function createServerKey(name) {
  const out = admin("keys", "create", "--server", name, "--app", APP_ID);
  return { id: out.split(/\s+/)[3], secret: out.trim().split("\n").pop().trim() };
}

for (const [name, sdk, makeApp, ErrorClass] of [
  ["realm-web 2.0.1", Realm, () => new Realm.App({ id: APP_ID, baseUrl: server.url, storage: new TestStorage() }), Realm.MongoDBRealmError],
  ["appkeys SDK", Appkeys, () => new Appkeys.App({ id: APP_ID, baseUrl: server.url }), Appkeys.AppError],
]) {
  test(`${name}: a server key logs in as its server user, manages no user keys, and stops when revoked`, async () => {
    const key = createServerKey(`backend-${name.split(" ")[0]}`);
    assert.match(key.secret, /^appk_/);
    const credentials = [sdk.Credentials.apiKey(key.secret)];
    if (sdk.Credentials.serverApiKey) credentials.push(sdk.Credentials.serverApiKey(key.secret));
    let userId;
    for (const c of credentials) {
      const user = await makeApp().logIn(c);
      userId ??= user.id;
      assert.equal(user.id, userId, "every login of the key is the same server user");
      await user.refreshProfile?.();
      await rejectsWith(user.apiKeys.fetchAll(), 403, "APIKeyManagementForbidden", ErrorClass);
    }
    const listed = admin("keys", "list", "--server", "--app", APP_ID);
    assert.ok(listed.split("\n").some((l) => l.startsWith(key.id) && l.includes(userId)), listed);
    admin("keys", "revoke", key.id);
    await rejectsWith(makeApp().logIn(sdk.Credentials.apiKey(key.secret)), 401, "AuthError", ErrorClass);
  });
}
