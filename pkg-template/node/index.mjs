// Node entry (import): the CommonJS build, so that `import` and `require` share one instance.
import { createRequire } from "node:module";

const m = createRequire(import.meta.url)("./index.cjs");
export const { App, ApiKeyAuth, Credentials, EmailPasswordAuth, User, AppError, Realm, handleAuthRedirect, init } = m;
