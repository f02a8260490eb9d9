// Shared helpers of the SDK package suites (tests/js): a real server behind a recording proxy, and
// assertions on the package's AppError.
import assert from "node:assert/strict";
import { startServer } from "../support/server.mjs";
import { startProxy } from "../support/proxy.mjs";
import { API, APP_ID, PASSWORD, uniqueEmail } from "../support/util.mjs";

/**
 * Starts appkeys-server behind a recording proxy. The server's public URL is the proxy, so every
 * request of the SDK (location first, then everything else) goes through it and is counted.
 */
export async function startProxiedServer(args = []) {
  const proxy = await startProxy();
  const server = await startServer({ args: ["--public-url", proxy.url, ...args] });
  proxy.setTarget(server.url);
  return {
    server,
    proxy,
    url: proxy.url,
    async stop() {
      await proxy.close();
      await server.stop();
    },
  };
}

/** The expected message format (realm-web's): `Request failed (<METHOD> <url>): <error> (status <code> <text>)`. */
export function expectedMessage(e) {
  const summary = e.statusText ? `status ${e.statusCode} ${e.statusText}` : `status ${e.statusCode}`;
  return typeof e.error === "string"
    ? `Request failed (${e.method} ${e.url}): ${e.error} (${summary})`
    : `Request failed (${e.method} ${e.url}): (${summary})`;
}

/**
 * Asserts that `promiseOrFn` rejects with the package's AppError carrying `statusCode`/`errorCode`,
 * and (when given) the HTTP method and the end of the request URL. Returns the error.
 */
export async function rejectsAppError(AppError, promiseOrFn, statusCode, errorCode, { method, path } = {}) {
  let error = null;
  try {
    await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected an AppError ${statusCode} ${errorCode}, but the call succeeded`);
  assert.ok(error instanceof Error, `not an Error: ${String(error)}`);
  assert.ok(error instanceof AppError, `not an AppError: ${error.name}: ${error.message}`);
  assert.equal(error.name, "AppError");
  assert.equal(error.statusCode, statusCode, error.message);
  assert.equal(error.errorCode, errorCode, error.message);
  assert.equal(typeof error.error, "string", "the server's error text is exposed");
  assert.equal(typeof error.statusText, "string");
  assert.equal(typeof error.url, "string");
  assert.equal(error.message, expectedMessage(error));
  assert.equal(typeof error.stack, "string");
  if (method) assert.equal(error.method, method);
  if (path) assert.ok(error.url.endsWith(API + path), `url ${error.url} should end with ${API + path}`);
  return error;
}

/** Asserts that calling `fn` throws or rejects with a TypeError. Returns the error. */
export async function rejectsTypeError(fn) {
  let error = null;
  try {
    await fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error, "expected a TypeError, but the call succeeded");
  assert.ok(error instanceof TypeError, `expected TypeError, got ${error?.name}: ${error?.message}`);
  return error;
}

/** Registers and logs in a fresh email/password user on `app`. */
export async function registerAndLogIn(sdk, app, tag = "user") {
  const email = uniqueEmail(tag);
  await app.emailPasswordAuth.registerUser({ email, password: PASSWORD });
  const user = await app.logIn(sdk.Credentials.emailPassword(email, PASSWORD));
  return { user, email };
}

export const newApp = (sdk, url) => new sdk.App({ id: APP_ID, baseUrl: url });
