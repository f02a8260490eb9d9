// The JavaScript snippets of the seed document (tests/js/fixtures/seed.txt), byte for byte, each pasted
// into a function body where `app` is in scope. tests/js/seed-verbatim.test.mjs checks that every snippet
// appears here unchanged. Used by the CommonJS and ESM package suites and by the browser page.
"use strict";

/** "Create a User API Key" -> resolves to the created key. */
async function createKey(app) {
// ---- seed snippet (verbatim) ----
const user = app.currentUser;
const key = await user.apiKeys.create("apiKeyName");
// ---- end of seed snippet ----
  return key;
}

/** "Look up a User API Key" (fetchAll, then fetch of the id written in the seed). */
async function lookUpKeys(app) {
// ---- seed snippet (verbatim) ----
const user = app.currentUser;
// List all of a user's keys
const keys = await user.apiKeys.fetchAll();
// Get a specific key by its ID
const key = await user.apiKeys.fetch("5eb5931548d79bc784adf46e");
// ---- end of seed snippet ----
  return { keys, key };
}

/** "Enable or Disable an API Key" -> resolves to the id of the first key (now disabled). */
async function enableThenDisable(app) {
// ---- seed snippet (verbatim) ----
// Get the ID of a User API Key
const user = app.currentUser;
const apiKeys = await user.apiKeys.fetchAll();
const keyId = apiKeys[0]["_id"];

// Enable the User API Key
await user.apiKey.enable(keyId);
// Disable the User API Key
await user.apiKey.disable(keyId);
// ---- end of seed snippet ----
  return keyId;
}

/** "Delete an API Key" -> resolves to the id of the deleted (first) key. */
async function deleteFirstKey(app) {
// ---- seed snippet (verbatim) ----
// Get the ID of a User API Key
const user = app.currentUser;
const apiKeys = await user.apiKeys.fetchAll();
const keyId = apiKeys[0]["_id"];

// Delete the User API Key
await user.apiKey.delete(keyId);
// ---- end of seed snippet ----
  return keyId;
}

module.exports = { createKey, lookUpKeys, enableThenDisable, deleteFirstKey };
