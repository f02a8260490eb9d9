// Browser / bundler / worker entry. No top-level await: call `await init()` once before using the API
// (idempotent; concurrent calls share one load). By default the wasm is fetched from next to this file.
import * as wasm from "./appkeys.js";
import { AppError } from "./app-error.js";

let ready = false;
let loading;

// `input`: a URL (string, URL, Request), a Response, the bytes, a WebAssembly.Module, or any of these
// as `{ module_or_path }`; default: appkeys_bg.wasm next to this module. Compiled asynchronously, then
// instantiated with wasm-bindgen's initSync (no instantiateStreaming: the module is small, and this
// way any server content type works).
async function load(input) {
  let source = await (input?.module_or_path ?? input ?? new URL("./appkeys_bg.wasm", import.meta.url));
  if (!(source instanceof WebAssembly.Module)) {
    if (typeof source === "string" || source instanceof URL || source instanceof Request) source = await fetch(source);
    if (source instanceof Response) {
      if (!source.ok) throw new Error(`appkeys: fetching ${source.url} failed: ${source.status} ${source.statusText}`);
      source = await source.arrayBuffer();
    }
    source = await WebAssembly.compile(source);
  }
  wasm.initSync({ module: source });
  wasm.__init(AppError, globalThis, wasm.__dispatch, wasm.App, wasm.User, wasm.Credentials);
  ready = true;
}

export function init(input) {
  loading ??= load(input).catch((e) => {
    loading = undefined;
    throw e;
  });
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
