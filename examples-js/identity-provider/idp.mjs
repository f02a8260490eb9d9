// A tiny local identity provider for trying appkeys' custom JWT login (`Credentials.jwt`) without an Auth0,
// Firebase or Clerk account: it makes signing keys at start (ES256 by default; RS256 too if asked), publishes
// them at GET /.well-known/jwks.json and issues short-lived tokens at POST /token.
//
// DEMO ONLY: POST /token signs whatever `username` it is sent, without a password. A real identity provider
// authenticates the user first; appkeys only ever sees its tokens and its JWKS.
//
//   node examples-js/identity-provider/idp.mjs            # http://127.0.0.1:9091, audience appkeys-demo
//   IDP_PORT=9191 IDP_AUDIENCE=my-app node examples-js/identity-provider/idp.mjs
// and start appkeys-server with the flags it prints.
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { exportJWK, generateKeyPair, SignJWT } from "jose";

/**
 * Starts the identity provider. Resolves to
 * { url, jwksUrl, issuer, audience, keys: [{ alg, kid }], issue(sub, claims?, { alg, expiresIn }?), close() }.
 */
export async function startIdentityProvider({
  port = 0,
  host = "127.0.0.1",
  audience = "appkeys-demo",
  algorithms = ["ES256"],
  lifetimeSeconds = 600,
  // The `iss` of its tokens [default: its own URL]; a benchmark plays Google with "https://accounts.google.com".
  issuer: fixedIssuer = null,
} = {}) {
  const keys = [];
  for (const alg of algorithms) {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    const jwk = { ...(await exportJWK(publicKey)), kid: `${alg.toLowerCase()}-${randomUUID()}`, alg, use: "sig" };
    keys.push({ alg, kid: jwk.kid, privateKey, jwk });
  }
  let issuer = null;

  async function issue(sub, claims = {}, { alg = algorithms[0], expiresIn = lifetimeSeconds } = {}) {
    const key = keys.find((k) => k.alg === alg);
    if (!key) throw new Error(`no ${alg} key`);
    return new SignJWT(claims)
      .setProtectedHeader({ alg, kid: key.kid, typ: "JWT" })
      .setSubject(sub)
      .setIssuer(issuer)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime(`${expiresIn}s`)
      .sign(key.privateKey);
  }

  const server = createServer(async (req, res) => {
    // The key manager page calls POST /token from the browser.
    res.setHeader("Access-Control-Allow-Origin", "*");
    res.setHeader("Access-Control-Allow-Headers", "content-type");
    const send = (status, body) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "OPTIONS") return res.writeHead(204).end();
    if (req.method === "GET" && req.url === "/.well-known/jwks.json") {
      return send(200, { keys: keys.map((k) => k.jwk) });
    }
    if (req.method === "POST" && req.url === "/token") {
      let text = "";
      for await (const chunk of req) {
        text += chunk;
        if (text.length > 4096) return send(413, { error: "body too large" });
      }
      let body;
      try {
        body = JSON.parse(text || "{}");
      } catch {
        return send(400, { error: "not JSON" });
      }
      const username = typeof body.username === "string" ? body.username.trim() : "";
      if (!/^[\w.@+-]{1,64}$/.test(username)) return send(400, { error: "username: 1-64 letters, digits or ._@+-" });
      const token = await issue(`demo|${username}`, { name: body.name || username, email: `${username}@idp.example` });
      return send(200, { token });
    }
    send(404, { error: "not found" });
  });
  await new Promise((resolve) => server.listen(port, host, resolve));
  const url = `http://${host}:${server.address().port}`;
  issuer = fixedIssuer ?? `${url}/`;
  return {
    url,
    jwksUrl: `${url}/.well-known/jwks.json`,
    issuer,
    audience,
    keys: keys.map(({ alg, kid }) => ({ alg, kid })),
    issue,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const idp = await startIdentityProvider({
    port: Number(process.env.IDP_PORT || 9091),
    audience: process.env.IDP_AUDIENCE || "appkeys-demo",
  });
  console.log(`identity provider on ${idp.url} (demo: POST /token {"username": "ada"} signs anything)`);
  console.log("start appkeys-server with:");
  console.log(
    `  appkeys-server --custom-jwt-jwks-url ${idp.jwksUrl} --custom-jwt-audience ${idp.audience} ` +
      `--custom-jwt-issuer ${idp.issuer} --custom-jwt-metadata name=name --custom-jwt-metadata email=email`,
  );
}
