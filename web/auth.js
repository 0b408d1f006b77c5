// Sign-in for the desk console.
// - Deployed (config.json has cognitoDomain): the Cognito user pool's managed login,
//   authorization code + PKCE (S256). The access token is kept in sessionStorage only.
// - Local (cognitoDomain empty): POST /_local/token {"role","user"} of the local API runner.
// The role shown in the page is display-only; the API enforces roles on every call.

const KEY = "opd.session"; // {token, role, user, exp}
const PKCE = "opd.pkce"; // {verifier, state, returnTo}

const b64url = (bytes) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function randomString(n = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(n)));
}

async function challengeFor(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return b64url(new Uint8Array(digest));
}

// The JWT's claims, decoded without verification: for display only.
export function decodeClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(
      Array.from(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")))
        .map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"))
        .join(""),
    );
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function roleOf(claims) {
  const groups = claims["cognito:groups"] || [];
  if (groups.includes("admin")) return "admin";
  if (groups.includes("reception")) return "reception";
  return groups[0] || "unknown";
}

function save(token, fallback = {}) {
  const claims = decodeClaims(token);
  const session = {
    token,
    role: fallback.role || roleOf(claims),
    user: fallback.user || claims.username || claims["cognito:username"] || claims.sub || "",
    exp: typeof claims.exp === "number" ? claims.exp * 1000 : null,
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function currentSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (!s || !s.token) return null;
    if (s.exp && s.exp <= Date.now()) {
      sessionStorage.removeItem(KEY);
      return null;
    }
    return s;
  } catch {
    return null;
  }
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}

// Local: the local API runner issues a token for any user in the chosen group.
export async function signInLocal(client, role, user) {
  const { token } = await client.post("/_local/token", { role, user });
  return save(token, { role, user });
}

// Deployed, step 1: off to the managed login page.
export async function startCognitoLogin(cfg) {
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state, returnTo: location.search }));
  const q = new URLSearchParams({
    response_type: "code",
    client_id: cfg.clientId,
    redirect_uri: cfg.redirectUri || location.origin + location.pathname,
    code_challenge_method: "S256",
    code_challenge: await challengeFor(verifier),
    scope: "openid",
    state,
  });
  location.assign(`${cfg.cognitoDomain.replace(/\/+$/, "")}/oauth2/authorize?${q}`);
}

// Deployed, step 2: back from the login page with ?code=&state=. Returns the session, or null
// when this page load is not a return from the login page. Throws with words on failure.
export async function completeCognitoLogin(cfg) {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const error = params.get("error");
  if (!code && !error) return null;
  const pending = JSON.parse(sessionStorage.getItem(PKCE) || "null");
  sessionStorage.removeItem(PKCE);
  // Drop code/state from the address bar (and history) whatever happens next.
  history.replaceState(null, "", location.pathname + (pending?.returnTo || ""));
  if (error) throw new Error(`Sign-in failed: ${params.get("error_description") || error}`);
  if (!pending || pending.state !== params.get("state")) throw new Error("Sign-in failed: please start it again");
  const res = await fetch(`${cfg.cognitoDomain.replace(/\/+$/, "")}/oauth2/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: cfg.clientId,
      code,
      redirect_uri: cfg.redirectUri || location.origin + location.pathname,
      code_verifier: pending.verifier,
    }),
  }).catch(() => null);
  if (!res || !res.ok) throw new Error("Sign-in failed: the login service did not accept the code; please sign in again");
  const body = await res.json();
  if (!body.access_token) throw new Error("Sign-in failed: no access token was returned");
  return save(body.access_token);
}

// Where the managed login page ends the Cognito session too (optional; needs logout_uri allowed).
export function cognitoLogoutUrl(cfg) {
  const q = new URLSearchParams({ client_id: cfg.clientId, logout_uri: cfg.redirectUri || location.origin + location.pathname });
  return `${cfg.cognitoDomain.replace(/\/+$/, "")}/logout?${q}`;
}
