"use strict";
// Node entry (require). wasm-bindgen's nodejs glue loads the wasm synchronously: no init needed.
const wasm = require("./appkeys.js");
const { AppError } = require("./app-error.cjs");

wasm.__init(AppError, globalThis, wasm.__dispatch, wasm.App, wasm.User, wasm.Credentials);

/** Nothing to do in Node; exists so that code written for browsers (`await init()`) runs unchanged. */
function init() {
  return Promise.resolve();
}

const { App, Credentials, User } = wasm;
const Realm = { App, Credentials, User, AppError };
module.exports = { App, Credentials, User, AppError, Realm, init };
