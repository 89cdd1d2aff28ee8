// The signed-in session: tokens in sessionStorage (this tab only), refreshed before they expire.
import { request } from "./api.js";
import { authorizeUrl, challengeOf, logoutUrl, randomString, tokenRequest } from "./pkce.js";

const SESSION_KEY = "cruddur.session";
const PKCE_KEY = "cruddur.pkce";
const REFRESH_MARGIN_MS = 60_000;

let config = null;
let session = null;
let refreshTimer = null;
let onSignedOut = () => {};

export function initAuth(clientConfig, signedOut) {
  config = clientConfig;
  onSignedOut = signedOut;
  session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
  if (session && session.expiresAt <= Date.now()) session = null;
  if (session) schedule();
}

export const accessToken = () => session?.accessToken ?? null;

function keep(tokens, extra) {
  session = {
    ...session,
    ...extra,
    accessToken: tokens.access_token,
    expiresAt: Date.now() + tokens.expires_in * 1000,
    refreshToken: tokens.refresh_token ?? session?.refreshToken,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  schedule();
}

function schedule() {
  clearTimeout(refreshTimer);
  const due = Math.max(session.expiresAt - Date.now() - REFRESH_MARGIN_MS, 1_000);
  refreshTimer = setTimeout(() => refresh().catch(() => signOut({ expired: true })), due);
}

async function refresh() {
  if (config.auth_mode === "local") return signInLocal(session.handle);
  const tokens = await tokenRequest(config.hosted_ui, {
    grant_type: "refresh_token",
    refresh_token: session.refreshToken,
  });
  return keep(tokens, {});
}

export async function signInLocal(handle) {
  const { data } = await request("POST", "/api/dev/tokens", { body: { handle }, anonymous: true });
  keep(data, { handle });
}

export async function beginHostedUi() {
  const verifier = randomString(32);
  const state = randomString(16);
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  location.assign(authorizeUrl(config.hosted_ui, await challengeOf(verifier), state));
}

// The Hosted UI redirected back with ?code&state: trade the code (once) for tokens.
export async function completeHostedUi(search) {
  const params = new URLSearchParams(search);
  const pending = JSON.parse(sessionStorage.getItem(PKCE_KEY) || "null");
  sessionStorage.removeItem(PKCE_KEY);
  if (!pending || params.get("state") !== pending.state || !params.get("code")) {
    throw new Error("The sign-in response does not match this tab's sign-in.");
  }
  const tokens = await tokenRequest(config.hosted_ui, {
    grant_type: "authorization_code",
    code: params.get("code"),
    redirect_uri: config.hosted_ui.redirect_uri,
    code_verifier: pending.verifier,
  });
  keep(tokens, {});
}

export function signOut({ expired = false } = {}) {
  clearTimeout(refreshTimer);
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  if (!expired && config.hosted_ui) {
    location.assign(logoutUrl(config.hosted_ui));
    return;
  }
  onSignedOut(expired);
}
