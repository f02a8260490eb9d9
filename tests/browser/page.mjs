// The browser page (bundled by esbuild with the `browser` condition): runs the seed flow with the
// seed's JavaScript snippets verbatim (../js/snippets.cjs) against the server given in `?server=`.
// No init() call is needed before `new App()`. First load: register, log in, the four snippets. After a
// reload: the user is still logged in.
// The outcome is published as `window.__result` (and logged as `RESULT {...}`).
import * as sdk from "appkeys";
import snippets from "../js/snippets.cjs";

const APP_ID = "appkeys-demo";
const server = new URLSearchParams(location.search).get("server");

function describe(e) {
  return {
    name: e?.name,
    message: String(e?.message ?? e),
    isError: e instanceof Error,
    isAppError: e instanceof sdk.AppError,
    statusCode: e?.statusCode,
    errorCode: e?.errorCode,
    url: e?.url,
  };
}

async function main() {
  // No init() needed: the module is ready right after the import. init() stays, idempotent.
  const early = new sdk.App({ id: APP_ID, baseUrl: server });
  const readyAtImport = early instanceof sdk.App && early.id === APP_ID;
  const initResult = typeof sdk.init === "function" ? await Promise.all([sdk.init(), sdk.init()]) : null;
  const app = new sdk.App({ id: APP_ID, baseUrl: server });
  if (app.currentUser) {
    const user = app.currentUser;
    const keys = await user.apiKeys.fetchAll();
    return {
      phase: "reloaded",
      userId: user.id,
      state: user.state,
      isLoggedIn: user.isLoggedIn,
      providerType: user.providerType,
      keyNames: keys.map((k) => k.name),
      storage: Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])),
    };
  }

  const email = `browser-${Math.random().toString(16).slice(2)}@example.com`;
  const password = "correct-horse-battery-staple";
  await app.emailPasswordAuth.registerUser({ email, password });
  const user = await app.logIn(sdk.Credentials.emailPassword(email, password));

  const created = await snippets.createKey(app);
  let lookUpError = null;
  try {
    await snippets.lookUpKeys(app);
  } catch (e) {
    lookUpError = describe(e);
  }
  const disabledId = await snippets.enableThenDisable(app);
  const afterDisable = await user.apiKeys.fetch(disabledId);
  let disabledLogIn = null;
  try {
    await new sdk.App({ id: APP_ID, baseUrl: server }).logIn(sdk.Credentials.apiKey(created.key));
  } catch (e) {
    disabledLogIn = describe(e);
  }
  const second = await user.apiKeys.create("second");
  const deletedId = await snippets.deleteFirstKey(app);
  const remaining = await user.apiKeys.fetchAll();
  return {
    phase: "fresh",
    readyAtImport,
    initResolved: Array.isArray(initResult) && initResult.every((r) => r === undefined),
    userId: user.id,
    email,
    profileEmail: user.profile.email,
    created: { _id: created._id, name: created.name, disabled: created.disabled, hasKey: typeof created.key === "string" },
    lookUpError,
    disabledId,
    afterDisable,
    disabledLogIn,
    deletedId,
    remaining,
    secondSecret: second.key,
    currentUserId: app.currentUser?.id,
  };
}

main().then(
  (r) => {
    window.__result = { ok: true, ...r };
    console.log("RESULT " + JSON.stringify(window.__result));
  },
  (e) => {
    window.__result = { ok: false, error: describe(e), stack: String(e?.stack ?? "") };
    console.log("RESULT " + JSON.stringify(window.__result));
  },
);
