"use strict";
// Node entry (require). wasm-bindgen's nodejs glue reads and instantiates the wasm synchronously.
const { App, ApiKeyAuth, Credentials, EmailPasswordAuth, User, handleAuthRedirect } = require("./appkeys.js");
const { AppError } = require("./app-error.cjs");

/** Resolves at once: the module is ready on require. Kept (idempotent) for code that calls it. */
function init() {
  return Promise.resolve();
}

const Realm = { App, Credentials, User, AppError, handleAuthRedirect };
module.exports = { App, ApiKeyAuth, Credentials, EmailPasswordAuth, User, AppError, Realm, handleAuthRedirect, init };
