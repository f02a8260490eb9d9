// The page the login window lands on (`--oauth-redirect-url`) for realm-web: its handleAuthRedirect() hands
// the `_baas_*` result to the app page that opened the window.
import { handleAuthRedirect } from "realm-web";

handleAuthRedirect();
