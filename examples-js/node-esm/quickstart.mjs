// appkeys quickstart (Node, ES modules): the user API key flow of the realm-web docs, narrated step by step.
//
//   APPKEYS_URL=http://127.0.0.1:9090 APPKEYS_APP=appkeys-demo node quickstart.mjs
//
// Registers a fresh user, creates a user API key, lists it, disables it (the key can no longer log in),
// enables it again (the key logs in as the same user), deletes it (refused again). Exits non-zero on any
// unexpected result, so it doubles as a smoke test.
import { App, Credentials, AppError } from "appkeys";
import { randomBytes } from "node:crypto";

const baseUrl = process.env.APPKEYS_URL || "http://127.0.0.1:9090";
const appId = process.env.APPKEYS_APP || "appkeys-demo";

let stepNo = 0;
const step = (title) => console.log(`\n${++stepNo}. ${title}`);
const show = (label, value) => console.log(`   ${label.padEnd(14)} ${value}`);
function check(condition, message) {
  if (!condition) throw new Error(`unexpected result: ${message}`);
}

/** Logs in with `key` and expects the server to refuse it with 401; prints the AppError. */
async function expectKeyRefused(app, key) {
  let user;
  try {
    user = await app.logIn(Credentials.apiKey(key));
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    show("refused", `${err.name}: statusCode=${err.statusCode} errorCode=${err.errorCode}`);
    check(err.statusCode === 401, `expected statusCode 401, got ${err.statusCode}`);
    check(typeof err.errorCode === "string" && err.errorCode !== "", "expected an errorCode");
    return;
  }
  throw new Error(`unexpected result: the key logged in as user ${user.id}`);
}

async function main() {
  step(`Connect to app "${appId}" at ${baseUrl}`);
  const app = new App({ id: appId, baseUrl });
  show("app id", app.id);

  step("Register a new email/password user");
  const email = `quickstart-${randomBytes(6).toString("hex")}@example.com`;
  const password = randomBytes(18).toString("base64url"); // never printed
  await app.emailPasswordAuth.registerUser({ email, password });
  show("email", email);

  step("Log in with email and password");
  const user = await app.logIn(Credentials.emailPassword(email, password));
  check(app.currentUser === user, "app.currentUser is the user that just logged in");
  show("user id", user.id);
  show("provider", user.providerType);

  step('Create a user API key: user.apiKeys.create("quickstart-key")');
  const created = await user.apiKeys.create("quickstart-key");
  check(typeof created._id === "string" && typeof created.key === "string", "create returns _id and key");
  check(created.name === "quickstart-key" && created.disabled === false, "new keys are enabled");
  show("key id", created._id);
  show("name", created.name);
  show("secret", created.key);
  console.log("   The secret is shown this one time only: the server keeps just a hash of it.");

  step("List the user's keys: user.apiKeys.fetchAll()");
  const keys = await user.apiKeys.fetchAll();
  for (const k of keys) show(k._id, `name=${k.name} disabled=${k.disabled}`);
  check(keys.length === 1 && keys[0]._id === created._id, "fetchAll lists exactly the new key");
  check(!("key" in keys[0]), "fetchAll never returns the secret");

  step("Disable the key: user.apiKey.disable(keyId)");
  const keyId = keys[0]["_id"];
  await user.apiKey.disable(keyId);
  const disabled = await user.apiKeys.fetch(keyId);
  show("disabled", disabled.disabled);
  check(disabled.disabled === true, "fetch reports the key as disabled");
  console.log("   A service tries to log in with the disabled key:");
  // The service uses its own App object, as a separate process would; `user` keeps its own session.
  const service = new App({ id: appId, baseUrl });
  await expectKeyRefused(service, created.key);

  step("Enable the key again and log in with it: Credentials.apiKey(secret)");
  await user.apiKey.enable(keyId);
  check((await user.apiKeys.fetch(keyId)).disabled === false, "fetch reports the key as enabled");
  const keyUser = await service.logIn(Credentials.apiKey(created.key));
  show("key login as", keyUser.id);
  show("owner", user.id);
  show("provider", keyUser.providerType);
  check(keyUser.id === user.id, "an API key logs in as the user that created it");
  console.log("   Same user: the service acts on behalf of the user without the password.");

  step("Delete the key: user.apiKey.delete(keyId)");
  await user.apiKey.delete(keyId);
  const left = await user.apiKeys.fetchAll();
  show("keys left", left.length);
  check(left.length === 0, "fetchAll is empty after delete");
  console.log("   A service tries to log in with the deleted key:");
  await expectKeyRefused(new App({ id: appId, baseUrl }), created.key);

  step("Log out");
  await keyUser.logOut();
  await user.logOut();
  show("user state", user.state);
  check(user.isLoggedIn === false, "user is logged out");

  console.log("\nQuickstart finished: every step behaved as documented.");
}

main().catch((err) => {
  console.error(`\nQuickstart FAILED at step ${stepNo}:`);
  if (err instanceof AppError) {
    console.error(`  ${err.name} ${err.method} ${err.url}: statusCode=${err.statusCode} errorCode=${err.errorCode}`);
  }
  console.error(err && err.stack ? err.stack : err);
  process.exitCode = 1;
});
