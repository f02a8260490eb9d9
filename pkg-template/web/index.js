// Browser / bundler / worker entry. The WebAssembly module ships inside the package as bytes
// (./appkeys_bg.wasm.js) and is compiled and instantiated synchronously on import: `new App()` works
// right after the import line, with no init() call, no top-level await and no bundler plugin.
// (See docs/ARCHITECTURE.md, "Loading in browsers", for the trade-off.)
import { initSync } from "./appkeys.js";
import { wasmBytes } from "./appkeys_bg.wasm.js";
import { AppError } from "./app-error.js";
import { App, ApiKeyAuth, Credentials, EmailPasswordAuth, User, handleAuthRedirect } from "./appkeys.js";

initSync({ module: wasmBytes() });

/** Resolves at once: the module is ready on import. Kept (idempotent) for code that calls it. */
export function init() {
  return Promise.resolve();
}

export { App, ApiKeyAuth, AppError, Credentials, EmailPasswordAuth, User, handleAuthRedirect };
export const Realm = { App, Credentials, User, AppError, handleAuthRedirect };
