// Browser / bundler / worker entry. No top-level await: call `await init()` once before using the API
// (idempotent; concurrent calls share one load). By default the wasm is fetched from next to this file.
import initWasm, * as wasm from "./appkeys.js";
import { AppError } from "./app-error.js";

let ready = false;
let loading;

export function init(input) {
  if (!loading) {
    const arg = input && typeof input === "object" && "module_or_path" in input
      ? input
      : { module_or_path: input ?? new URL("./appkeys_bg.wasm", import.meta.url) };
    loading = initWasm(arg).then(
      () => {
        wasm.__init(AppError, globalThis, wasm.__dispatch, wasm.App, wasm.User, wasm.Credentials);
        ready = true;
      },
      (e) => {
        loading = undefined;
        throw e;
      },
    );
  }
  return loading;
}

const notReady = () =>
  new Error("appkeys: call `await init()` first (the browser build loads its WebAssembly module asynchronously)");

// Until init() has finished, `new App()` and the Credentials statics (which init() attaches) throw
// notReady().
const guard = (C) =>
  new Proxy(C, {
    construct(target, args, newTarget) {
      if (!ready) throw notReady();
      return Reflect.construct(target, args, newTarget);
    },
    get(target, key, receiver) {
      if (!ready && ["emailPassword", "anonymous", "apiKey"].includes(key)) throw notReady();
      return Reflect.get(target, key, receiver);
    },
  });

export const App = guard(wasm.App);
export const Credentials = guard(wasm.Credentials);
export const User = wasm.User;
export { AppError };
export const Realm = { App, Credentials, User, AppError };
