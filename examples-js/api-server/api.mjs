// Your own API, trusting appkeys access tokens: Express + jose, verifying against appkeys-server's JWKS with
// the issuer, the audience and the algorithm pinned (all read from discovery once at start).
//   APPKEYS_URL=http://127.0.0.1:9090 [APPKEYS_APP=appkeys-demo] [PORT=8080] node api.mjs
// Scopes: POST /orders needs `orders:write` and GET /orders `orders:read` in the token's `scope` (RFC 9068), which
// a session of an API key created with `{ scopes }` carries; the owner's own sessions, and keys created without
// scopes (they act as their owner), carry none and pass. Start appkeys-server with
// `--api-key-scope orders:read=… --api-key-scope orders:write=…`.
// Optional immediate revocation: APPKEYS_INTROSPECTION=client_id:secret (a line of the server's
// --introspection-credentials-file) makes GET /orders ask appkeys-server whether the token is still live.
import express from "express";
import { createRemoteJWKSet, jwtVerify } from "jose";

const APPKEYS_URL = (process.env.APPKEYS_URL || "http://127.0.0.1:9090").replace(/\/$/, "");
const AUDIENCE = process.env.APPKEYS_APP || "appkeys-demo";
const PORT = Number(process.env.PORT ?? 8080);
const INTROSPECTION = process.env.APPKEYS_INTROSPECTION || "";

/** The verifier: keys from the JWKS (cached and refreshed by jose), issuer and audience pinned, ES256 only. */
async function verifier() {
  const res = await fetch(`${APPKEYS_URL}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`discovery: ${res.status}`);
  const discovery = await res.json();
  const jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
  return async (token) => {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: discovery.issuer,
      audience: AUDIENCE,
      algorithms: ["ES256"],
      typ: "at+jwt",
    });
    return payload;
  };
}

/** Asks appkeys-server whether a token is still live (RFC 7662): logout, disabled key, deleted user. */
async function introspect(token) {
  const res = await fetch(`${APPKEYS_URL}/oauth/introspect`, {
    method: "POST",
    headers: {
      Authorization: `Basic ${Buffer.from(INTROSPECTION).toString("base64")}`,
      "Content-Type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ token }),
  });
  if (!res.ok) throw new Error(`introspection: ${res.status}`);
  return (await res.json()).active === true;
}

/**
 * Lets a request through when its token may do `needed`: a token without `scope` (the owner, or a key that acts
 * as its owner) or one whose space-separated `scope` lists it; else 403 `insufficient_scope` (RFC 6750).
 */
function requireScope(needed) {
  return (req, res, next) => {
    const scope = req.caller.scope;
    if (scope === undefined || String(scope).split(" ").includes(needed)) return next();
    res
      .status(403)
      .set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="${needed}"`)
      .json({ error: `this key may not do ${needed}` });
  };
}

function unauthorized(res, why) {
  res.status(401).set("WWW-Authenticate", 'Bearer error="invalid_token"').json({ error: why });
}

export async function createApi() {
  const verify = await verifier();
  const authenticate = async (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get("authorization") || "");
    if (!match) return unauthorized(res, "missing bearer token");
    try {
      req.caller = await verify(match[1]);
      req.token = match[1];
      next();
    } catch (err) {
      unauthorized(res, `invalid token (${err.code || err.message})`);
    }
  };
  const app = express();
  // Who is calling: the user, and whether through one of their API keys (and which).
  app.get("/whoami", authenticate, (req, res) => {
    const c = req.caller;
    res.json({
      userId: c.sub,
      app: c.client_id,
      provider: c.provider,
      viaApiKey: c.provider === "api-key",
      apiKeyId: c.api_key_id ?? null,
      scope: c.scope ?? null,
      expiresAt: c.exp,
    });
  });
  // Where a revoked key must stop at once rather than at `exp`: also ask appkeys-server.
  app.get("/orders", authenticate, requireScope("orders:read"), async (req, res) => {
    if (INTROSPECTION && !(await introspect(req.token))) return unauthorized(res, "token revoked");
    res.json({ owner: req.caller.sub, orders: [] });
  });
  app.post("/orders", authenticate, requireScope("orders:write"), (req, res) => {
    res.status(201).json({ owner: req.caller.sub, created: true });
  });
  return app;
}

async function main() {
  const app = await createApi();
  const server = app.listen(PORT, "127.0.0.1", () => {
    console.log(`api listening on http://127.0.0.1:${server.address().port} (trusting ${APPKEYS_URL})`);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
