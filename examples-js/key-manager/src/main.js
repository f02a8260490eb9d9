// appkeys key manager: log in or register, then list, create, enable/disable, roll and delete your user API keys,
// with each key's scopes, allow-list and logins per day over the last 30 days.
// Plain DOM, no framework. The server comes from `?server=` (default http://127.0.0.1:9090), the app id from
// `?app=` (default appkeys-demo). The session survives a reload (the SDK keeps it in localStorage); a new
// key's secret lives only in this page's memory until you dismiss it.
// Email links land here too: point appkeys-server's `--confirm-url` at `…/?action=confirm&server=…` and
// `--reset-url` at `…/?action=reset&server=…`; the server appends `token` and `tokenId`.
// Custom JWT sign-in: paste a token of your identity provider, or open the page with `?idp=URL` of the demo
// identity provider (examples-js/identity-provider), which issues one for the user name you type.
import { App, AppError, Credentials } from "appkeys";

const params = new URLSearchParams(location.search);
const serverUrl = params.get("server") || "http://127.0.0.1:9090";
const appId = params.get("app") || "appkeys-demo";
/** The demo identity provider (`?idp=`), if any: its POST /token signs a token for a user name. */
const idpUrl = params.get("idp");
/** The token of a confirmation or reset link this page was opened with, if any. */
const link = params.get("token") && params.get("tokenId")
  ? { action: params.get("action"), token: params.get("token"), tokenId: params.get("tokenId") }
  : null;
/**
 * The password rule new passwords are held to before they are sent: appkeys-server's (`--min-password-length`,
 * default 8, and at most 128 characters). For a server started with another minimum, open the page with
 * `?minPassword=N`; either way a password the server refuses shows its own 400 with its rule.
 */
const passwordRule = { min: Number(params.get("minPassword")) || 8, max: 128 };
const passwordRuleText = `${passwordRule.min} to ${passwordRule.max} characters`;
/** Showing the "choose a new password" form (opened from a reset link). */
let resetting = link !== null && link.action === "reset";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);
const ui = {
  serverUrl: $("server-url"),
  session: $("session"),
  sessionUser: $("session-user"),
  logout: $("logout"),
  error: $("error"),
  status: $("status"),
  auth: $("auth"),
  authForm: $("auth-form"),
  jwtForm: $("jwt-form"),
  jwt: $("jwt"),
  jwtLabel: $("jwt-label"),
  idpUser: $("idp-user"),
  idpUserLabel: $("idp-user-label"),
  keys: $("keys"),
  createForm: $("create-form"),
  keyExpiry: $("key-expiry"),
  keyExpiryDate: $("key-expiry-date"),
  keyName: $("key-name"),
  keyScopes: $("key-scopes"),
  keyAllowedIps: $("key-allowed-ips"),
  newKey: $("new-key"),
  newKeyName: $("new-key-name"),
  newKeySecret: $("new-key-secret"),
  useKeySnippet: $("use-key-snippet"),
  copySecret: $("copy-secret"),
  copyStatus: $("copy-status"),
  dismissSecret: $("dismiss-secret"),
  keysEmpty: $("keys-empty"),
  keyTable: $("key-table"),
  keyList: $("key-list"),
  forgot: $("forgot"),
  unconfirmed: $("unconfirmed"),
  unconfirmedEmail: $("unconfirmed-email"),
  resendConfirmation: $("resend-confirmation"),
  reset: $("reset"),
  resetForm: $("reset-form"),
  resetCancel: $("reset-cancel"),
  newPassword: $("new-password"),
  passwordHint: $("password-hint"),
};

ui.newPassword.minLength = passwordRule.min;
ui.newPassword.maxLength = passwordRule.max;
ui.passwordHint.textContent = `${passwordRuleText}. Setting it signs this account out everywhere.`;

let app = null;
/** Key id waiting for delete confirmation, if any. */
let confirmingDelete = null;
/** Last list fetched from the server (each key with its `usage`). */
let keys = [];
/** The grace periods offered when rolling a key: [label, seconds]. */
const GRACE = [["old secret stops now", 0], ["old works 1 hour", 3600], ["old works 1 day", 86400], ["old works 7 days", 604800]];

/** Creates an element: h("button", { type: "button", dataset: { testid: "x" } }, "text", child, …). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el[name] = value;
  }
  el.append(...children);
  return el;
}

function showError(err) {
  if (!err) {
    ui.error.hidden = true;
    ui.error.textContent = "";
    return;
  }
  ui.error.textContent =
    err instanceof AppError
      ? `${err.statusCode} ${err.errorCode || err.statusText}: ${err.error || err.message}`
      : String((err && err.message) || err);
  ui.error.hidden = false;
}

function setStatus(text) {
  ui.status.textContent = text;
}

/** Runs an action with the error banner cleared first and filled on failure; disables `controls` meanwhile. */
async function run(controls, action) {
  showError(null);
  for (const c of controls) c.disabled = true;
  try {
    await action();
  } catch (err) {
    showError(err);
  } finally {
    for (const c of controls) c.disabled = false;
  }
}

function render() {
  const user = app && app.currentUser;
  ui.reset.hidden = !resetting;
  if (resetting) {
    ui.auth.hidden = ui.keys.hidden = ui.session.hidden = true;
    return;
  }
  ui.auth.hidden = !!user;
  ui.keys.hidden = !user;
  ui.session.hidden = !user;
  if (!user) return;
  const profile = user.profile || {};
  const who = profile.email || profile.name;
  ui.sessionUser.textContent = who ? `${who} (${user.id})` : user.id;

  ui.keysEmpty.hidden = keys.length > 0;
  ui.keyTable.hidden = keys.length === 0;
  ui.keyList.replaceChildren(...keys.map(renderRow));
}

/** "3 minutes ago", "in 2 days", "never" (relative to now). */
function relative(ms, never = "never") {
  if (ms === null || ms === undefined) return never;
  const diff = ms - Date.now();
  const units = [["year", 365 * 864e5], ["month", 30 * 864e5], ["day", 864e5], ["hour", 36e5], ["minute", 6e4]];
  const format = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(diff) >= size) return format.format(Math.round(diff / size), unit);
  }
  return format.format(Math.round(diff / 1000), "second");
}

/** Milliseconds since the epoch of the create form's expiry choice, or undefined for never. */
function chosenExpiry() {
  const choice = ui.keyExpiry.value;
  if (choice === "never") return undefined;
  if (choice === "date") {
    const date = ui.keyExpiryDate.valueAsDate;
    if (!date) throw new Error("Pick the expiry date.");
    return new Date(date.getTime() + 864e5 - 1); // the end of that day (UTC)
  }
  return new Date(Date.now() + Number(choice) * 864e5);
}

function renderRow(key) {
  const expired = key.expiresAt !== null && key.expiresAt !== undefined && key.expiresAt <= Date.now();
  const toggle = h("input", {
    type: "checkbox",
    role: "switch",
    checked: !key.disabled,
    dataset: { testid: "key-toggle" },
    onchange: () => run([toggle], () => setEnabled(key, toggle.checked)),
  });
  toggle.setAttribute("aria-label", `${key.name} enabled`);
  const status = h("label", { className: "switch" }, toggle, h("span", { dataset: { testid: "key-status" } },
    key.disabled ? "Disabled" : "Enabled"));

  let actions;
  if (confirmingDelete === key._id) {
    const yes = h("button", {
      type: "button",
      className: "danger",
      dataset: { testid: "key-delete-confirm" },
      onclick: () => run([yes, no], () => deleteKey(key)),
    }, "Delete");
    const no = h("button", {
      type: "button",
      dataset: { testid: "key-delete-cancel" },
      onclick: () => {
        confirmingDelete = null;
        render();
      },
    }, "Cancel");
    actions = h("td", { className: "actions confirm" },
      h("span", { dataset: { testid: "key-delete-question" } }, `Delete “${key.name}”? This cannot be undone.`),
      yes, no);
  } else {
    actions = h("td", { className: "actions" }, h("button", {
      type: "button",
      className: "danger-outline",
      dataset: { testid: "key-delete" },
      onclick: () => {
        confirmingDelete = key._id;
        render();
      },
    }, "Delete"));
  }

  const grace = h("select", { dataset: { testid: "key-roll-grace" } },
    ...GRACE.map(([label, seconds]) => h("option", { value: String(seconds) }, label)));
  grace.setAttribute("aria-label", `${key.name}: how long the old secret keeps working`);
  const roll = h("button", {
    type: "button",
    dataset: { testid: "key-roll" },
    onclick: () => run([roll, grace], () => rollKey(key, Number(grace.value))),
  }, "Roll");
  if (confirmingDelete !== key._id) actions.prepend(h("span", { className: "roll" }, grace, roll));

  const when = (ms) => (ms ? new Date(ms).toISOString() : "");
  return h("tr", {
    className: expired ? "expired" : "",
    dataset: { testid: "key-row", keyId: key._id, keyName: key.name, disabled: String(key.disabled), expired: String(expired) },
  },
    h("td", { dataset: { testid: "key-name-cell" } }, key.name),
    h("td", {}, h("code", {}, key._id)),
    h("td", { title: when(key.createdAt), dataset: { testid: "key-created" } }, relative(key.createdAt)),
    h("td", { title: when(key.lastUsedAt), dataset: { testid: "key-last-used" } }, relative(key.lastUsedAt)),
    h("td", { title: when(key.expiresAt), dataset: { testid: "key-expires" } },
      expired ? h("span", { className: "badge", dataset: { testid: "key-expired" } }, "Expired") : relative(key.expiresAt)),
    h("td", { dataset: { testid: "key-usage" } }, usageChart(key)),
    h("td", { dataset: { testid: "key-scopes-cell" } }, key.scopes ? key.scopes.join(" ") : "as owner"),
    h("td", { dataset: { testid: "key-allowed-cell" } }, key.allowedIps ? key.allowedIps.join(", ") : "anywhere"),
    h("td", {}, status),
    actions);
}

/** A small bar chart of the key's logins per day over the last 30 days (SVG), with the total as its title. */
function usageChart(key) {
  const days = key.usage ? key.usage.days.slice(-30) : [];
  const max = Math.max(1, ...days.map((d) => d.logins));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 90 24");
  svg.setAttribute("class", "usage");
  const total = days.reduce((n, d) => n + d.logins, 0);
  const title = document.createElementNS(svg.namespaceURI, "title");
  const last = key.usage && key.usage.lastClientAddress ? `, last from ${key.usage.lastClientAddress}` : "";
  title.textContent = `${total} logins in 30 days${last}`;
  svg.append(title);
  days.forEach((d, i) => {
    const height = d.logins ? Math.max(2, Math.round((d.logins / max) * 22)) : 1;
    const bar = document.createElementNS(svg.namespaceURI, "rect");
    for (const [k, v] of Object.entries({ x: i * 3, y: 24 - height, width: 2, height, "data-logins": d.logins, "data-date": d.date })) {
      bar.setAttribute(k, String(v));
    }
    if (!d.logins) bar.setAttribute("class", "zero");
    svg.append(bar);
  });
  return h("span", { className: "usage-cell", dataset: { testid: "key-usage-total" }, title: title.textContent }, svg,
    h("small", {}, String(total)));
}

async function refreshKeys() {
  const api = app.currentUser.apiKeys;
  const list = await api.fetchAll();
  // A fetch of one key carries its usage (logins per day and the last client address).
  keys = await Promise.all(list.map((k) => api.fetch(k._id)));
  render();
}

/** Shows a key's new secret (after create or roll) in the one-time panel. */
function showSecret(key, secret) {
  ui.newKeyName.textContent = key.name;
  ui.newKeySecret.textContent = secret;
  ui.useKeySnippet.textContent = useKeySnippet(secret);
  ui.copyStatus.textContent = "";
  ui.newKey.hidden = false;
}

async function rollKey(key, expireOldAfter) {
  const rolled = await app.currentUser.apiKeys.roll(key._id, { expireOldAfter });
  showSecret(rolled, rolled.key);
  const until = rolled.previousKeyExpiresAt ? `until ${new Date(rolled.previousKeyExpiresAt).toISOString()}` : "no longer";
  setStatus(`Key ${rolled.name} rolled: the old secret works ${until}.`);
  await refreshKeys();
}

async function setEnabled(key, enabled) {
  const keyApi = app.currentUser.apiKeys;
  try {
    await (enabled ? keyApi.enable(key._id) : keyApi.disable(key._id));
    setStatus(`${key.name} ${enabled ? "enabled" : "disabled"}.`);
  } finally {
    await refreshKeys();
  }
}

async function deleteKey(key) {
  await app.currentUser.apiKeys.delete(key._id);
  confirmingDelete = null;
  setStatus(`${key.name} deleted.`);
  await refreshKeys();
}

/** How a service uses a new key: log in with it, then call your API with the access token it gets. */
function useKeySnippet(key) {
  return [
    `import { App, Credentials } from "appkeys";`,
    ``,
    `const app = new App({ id: ${JSON.stringify(app.id)}, baseUrl: ${JSON.stringify(serverUrl)} });`,
    `const service = await app.logIn(Credentials.apiKey(${JSON.stringify(key)}));`,
    `const res = await fetch("http://127.0.0.1:8080/whoami", {`,
    "  headers: { Authorization: `Bearer ${service.accessToken}` },",
    `});`,
    `console.log(await res.json()); // { userId, viaApiKey: true, apiKeyId, … }`,
  ].join("\n");
}

function hideSecret() {
  ui.newKey.hidden = true;
  ui.newKeySecret.textContent = "";
  ui.useKeySnippet.textContent = "";
  ui.copyStatus.textContent = "";
}

ui.authForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(ui.authForm);
  const email = String(form.get("email")).trim();
  const password = String(form.get("password"));
  const registering = event.submitter && event.submitter.name === "register";
  run(ui.authForm.querySelectorAll("button, input"), async () => {
    ui.unconfirmed.hidden = true;
    if (registering) {
      // Login stays open to any length (older accounts); a new account's password follows the rule.
      if (password.length < passwordRule.min || password.length > passwordRule.max) {
        throw new Error(`A new password has ${passwordRuleText}.`);
      }
      await app.emailPasswordAuth.registerUser({ email, password });
      setStatus(`Account ${email} created.`);
    }
    try {
      await app.logIn(Credentials.emailPassword(email, password));
    } catch (err) {
      // The server confirms accounts by email (--email-confirmation): no login before that.
      if (!(err instanceof AppError && err.errorCode === "UserNotConfirmed")) throw err;
      ui.unconfirmedEmail.textContent = email;
      ui.unconfirmed.hidden = false;
      setStatus(registering
        ? `Account ${email} created. Check your inbox: we sent a confirmation link to ${email}.`
        : `${email} is not confirmed yet. Check your inbox for the confirmation link.`);
      return;
    }
    ui.authForm.reset();
    if (!registering) setStatus(`Logged in as ${email}.`);
    await refreshKeys();
  });
});

/** A token from the demo identity provider for `username` (a real provider signs the user in first). */
async function idpToken(username) {
  const res = await fetch(`${idpUrl.replace(/\/+$/, "")}/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username }),
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok || typeof body.token !== "string") {
    throw new Error(`identity provider: ${body.error || res.status}`);
  }
  return body.token;
}

ui.jwtForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(ui.jwtForm);
  run(ui.jwtForm.querySelectorAll("button, input, textarea"), async () => {
    const username = String(form.get("idp-user") || "").trim();
    const token = idpUrl && username ? await idpToken(username) : String(form.get("jwt") || "").trim();
    if (!token) throw new Error(idpUrl ? "Enter a user name (or paste a token)." : "Paste a token first.");
    const user = await app.logIn(Credentials.jwt(token));
    ui.jwtForm.reset();
    setStatus(`Signed in through your identity provider as ${(user.profile && user.profile.name) || user.id}.`);
    await refreshKeys();
  });
});
if (idpUrl) ui.idpUserLabel.hidden = false;

/** The email typed into the sign-in form (the error banner asks for it when empty). */
function typedEmail() {
  const email = String(new FormData(ui.authForm).get("email") || "").trim();
  if (!email) throw new Error("Enter your email address first.");
  return email;
}

ui.forgot.addEventListener("click", () =>
  run([ui.forgot], async () => {
    const email = typedEmail();
    await app.emailPasswordAuth.sendResetPasswordEmail({ email });
    // The server answers the same for every address: so does this page.
    setStatus(`If ${email} has an account, a password reset link is on its way. Check your inbox.`);
  }),
);

ui.resendConfirmation.addEventListener("click", () =>
  run([ui.resendConfirmation], async () => {
    const email = ui.unconfirmedEmail.textContent || typedEmail();
    await app.emailPasswordAuth.resendConfirmationEmail({ email });
    setStatus(`A new confirmation link is on its way to ${email}.`);
  }),
);

/** Removes the link's token from the address bar and history (it is single use anyway). */
function forgetLink() {
  const url = new URL(location.href);
  for (const name of ["action", "token", "tokenId"]) url.searchParams.delete(name);
  history.replaceState(null, "", url);
}

ui.resetForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const password = String(new FormData(ui.resetForm).get("password"));
  run(ui.resetForm.querySelectorAll("button, input"), async () => {
    await app.emailPasswordAuth.resetPassword({ token: link.token, tokenId: link.tokenId, password });
    ui.resetForm.reset();
    resetting = false;
    forgetLink();
    setStatus("Password changed: log in with the new password. Every other session was signed out.");
    if (app.currentUser) {
      // A session of this browser may be one the reset just ended: a refused refresh logs it out.
      try {
        await app.currentUser.refreshAccessToken();
        await refreshKeys();
      } catch {
        keys = [];
      }
    }
    render();
  });
});

ui.resetCancel.addEventListener("click", () => {
  resetting = false;
  forgetLink();
  setStatus("");
  render();
});

/** Opened from a confirmation link: confirm the account. */
async function confirmFromLink() {
  setStatus("Confirming your email…");
  try {
    await app.emailPasswordAuth.confirmUser({ token: link.token, tokenId: link.tokenId });
    setStatus("Email confirmed: you can log in now.");
  } catch (err) {
    setStatus("");
    showError(err);
  } finally {
    forgetLink();
  }
}

ui.logout.addEventListener("click", () =>
  run([ui.logout], async () => {
    hideSecret();
    confirmingDelete = null;
    keys = [];
    await app.currentUser.logOut();
    setStatus("Logged out.");
    render();
  }),
);

ui.keyExpiry.addEventListener("change", () => {
  ui.keyExpiryDate.hidden = ui.keyExpiry.value !== "date";
  ui.keyExpiryDate.required = ui.keyExpiry.value === "date";
});

ui.createForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const name = ui.keyName.value.trim();
  run(ui.createForm.querySelectorAll("button, input"), async () => {
    const options = {};
    const expiresAt = chosenExpiry();
    if (expiresAt) options.expiresAt = expiresAt;
    const scopes = ui.keyScopes.value.split(/\s+/).filter(Boolean);
    if (scopes.length) options.scopes = scopes;
    const allowedIps = ui.keyAllowedIps.value.split(/[\s,]+/).filter(Boolean);
    if (allowedIps.length) options.allowedIps = allowedIps;
    const created = await app.currentUser.apiKeys.create(name, options);
    ui.keyName.value = "";
    ui.keyScopes.value = "";
    ui.keyAllowedIps.value = "";
    showSecret(created, created.key);
    setStatus(`Key ${created.name} created.`);
    await refreshKeys();
  });
});

ui.copySecret.addEventListener("click", async () => {
  const secret = ui.newKeySecret.textContent;
  try {
    await navigator.clipboard.writeText(secret);
    ui.copyStatus.textContent = "Copied to the clipboard.";
  } catch {
    // No clipboard permission (or not a secure context): select the text so the user can copy it by hand.
    getSelection().selectAllChildren(ui.newKeySecret);
    ui.copyStatus.textContent = "Copying is blocked here: the key is selected, press Ctrl+C.";
  }
});

ui.dismissSecret.addEventListener("click", hideSecret);

async function start() {
  ui.serverUrl.textContent = `${serverUrl} · app ${appId}`;
  try {
    app = new App({ id: appId, baseUrl: serverUrl });
    render();
    if (link && link.action === "confirm") await confirmFromLink();
    if (app.currentUser && !resetting) {
      setStatus("Session restored.");
      await refreshKeys();
    }
  } catch (err) {
    showError(err);
    if (app) render();
  } finally {
    document.body.dataset.ready = "true";
  }
}

start();
