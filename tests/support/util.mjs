// Small helpers shared by the JavaScript test suites.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

export const APP_ID = "appkeys-demo";
export const API = "/api/client/v2.0";
export const OBJECT_ID = /^[0-9a-f]{24}$/;

/** A unique e-mail address for one test user. */
export function uniqueEmail(tag = "user") {
  return `${tag}-${randomBytes(6).toString("hex")}@example.com`;
}

/** A password that satisfies any reasonable length rule. */
export const PASSWORD = "correct-horse-battery-staple";

/** A random 24-hex id (well-formed ObjectId string that no server object has). */
export function randomObjectId() {
  return randomBytes(12).toString("hex");
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Awaits `promiseOrFn` and asserts that it rejects with an error carrying the given status code and
 * error code (realm-web's MongoDBRealmError and our AppError both use `statusCode` / `errorCode`).
 * Returns the error for further checks.
 */
export async function rejectsWith(promiseOrFn, statusCode, errorCode, ErrorClass) {
  let error = null;
  try {
    await (typeof promiseOrFn === "function" ? promiseOrFn() : promiseOrFn);
  } catch (e) {
    error = e;
  }
  assert.ok(error, `expected a rejection with ${statusCode} ${errorCode}, but it resolved`);
  assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
  if (ErrorClass) assert.ok(error instanceof ErrorClass, `expected ${ErrorClass.name}, got ${error.name}: ${error.message}`);
  assert.equal(error.statusCode, statusCode, `status of: ${error.message}`);
  assert.equal(error.errorCode, errorCode, `errorCode of: ${error.message}`);
  return error;
}

/** A raw request against the server (no client library), returning { status, headers, body }. */
export async function raw(baseUrl, method, path, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(baseUrl + API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  if (text && (res.headers.get("content-type") || "").startsWith("application/json")) json = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, body: json };
}

/**
 * An in-memory storage with realm-web's Storage interface (get/set/remove/prefix/clear/listeners).
 * realm-web in Node shares ONE default MemoryStorage between all App instances of a process; a
 * separate storage per App keeps the users of different App instances apart in a test.
 */
export class TestStorage {
  constructor(map = new Map(), prefixKey = "") {
    this.map = map;
    this.prefixKey = prefixKey;
    this.listeners = new Set();
  }
  key(k) {
    return this.prefixKey ? `${this.prefixKey}:${k}` : k;
  }
  get(k) {
    const v = this.map.get(this.key(k));
    return v === undefined ? null : v;
  }
  set(k, v) {
    this.map.set(this.key(k), v);
    this.fire();
  }
  remove(k) {
    this.map.delete(this.key(k));
    this.fire();
  }
  prefix(part) {
    const child = new TestStorage(this.map, this.key(part));
    child.listeners = this.listeners;
    return child;
  }
  clear(prefix = "") {
    const p = this.key(prefix);
    for (const k of [...this.map.keys()]) if (k.startsWith(p)) this.map.delete(k);
    this.fire();
  }
  addListener(l) {
    this.listeners.add(l);
  }
  removeListener(l) {
    this.listeners.delete(l);
  }
  fire() {
    for (const l of this.listeners) l();
  }
}
