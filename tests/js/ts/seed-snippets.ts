// The TypeScript snippets of the seed document (tests/js/fixtures/seed.txt), byte for byte, each pasted into
// an async function where `app` is declared. `tsc --noEmit -p tests/js/ts` type-checks them against the
// package types (tests/js/typescript.test.mjs), which then transpiles this file with esbuild and runs it
// against a real server. Only type imports: the transpiled module has no runtime imports.
import type { App, Realm } from "appkeys";

/** "Create a User API Key" */
export async function createKey(app: App): Promise<Realm.Auth.ApiKey> {
// ---- seed snippet (verbatim) ----
const user: Realm.User = app.currentUser;
const key: Realm.Auth.ApiKey = await user.apiKeys.create("apiKeyName");
// ---- end of seed snippet ----
  return key;
}

/** "Look up a User API Key" */
export async function lookUpKeys(app: App): Promise<{ keys: Realm.Auth.ApiKey[]; key: Realm.Auth.ApiKey }> {
// ---- seed snippet (verbatim) ----
const user: Realm.User = app.currentUser;
// List all of a user's keys
const keys: Realm.Auth.ApiKey[] = await user.apiKeys.fetchAll();
// Get a specific key by its ID
const key: Realm.Auth.ApiKey = await user.apiKeys.fetch("5eb5931548d79bc784adf46e");
// ---- end of seed snippet ----
  return { keys, key };
}

/** "Enable or Disable an API Key" */
export async function enableThenDisable(app: App): Promise<string> {
// ---- seed snippet (verbatim) ----
// Get the ID of a User API Key
const user: Realm.User = app.currentUser;
const apiKeys: Realm.Auth.ApiKey[] = await user.apiKeys.fetchAll();
const keyId: string = apiKeys[0]["_id"];

// Enable the User API Key
await user.apiKey.enable(keyId);
// Disable the User API Key
await user.apiKey.disable(keyId);
// ---- end of seed snippet ----
  return keyId;
}

/** "Delete an API Key" */
export async function deleteFirstKey(app: App): Promise<string> {
// ---- seed snippet (verbatim) ----
// Get the ID of a User API Key
const user: Realm.User = app.currentUser;
const apiKeys: Realm.Auth.ApiKey[] = await user.apiKeys.fetchAll();
const keyId: string = apiKeys[0]["_id"];

// Delete the User API Key
await user.apiKey.delete(keyId);
// ---- end of seed snippet ----
  return keyId;
}
