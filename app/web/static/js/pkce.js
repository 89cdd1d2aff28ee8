// OAuth 2.0 authorization code with PKCE (RFC 7636, S256) against the Cognito Hosted UI.
function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function randomString(byteCount = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(byteCount)));
}

export async function challengeOf(verifier) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

export function authorizeUrl(hostedUi, challenge, state) {
  const url = new URL("/oauth2/authorize", hostedUi.domain);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: hostedUi.client_id,
    redirect_uri: hostedUi.redirect_uri,
    scope: hostedUi.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }).toString();
  return url.href;
}

export function logoutUrl(hostedUi) {
  const url = new URL("/logout", hostedUi.domain);
  url.search = new URLSearchParams({ client_id: hostedUi.client_id, logout_uri: `${location.origin}/` }).toString();
  return url.href;
}

// Exchanges a code, or a refresh token, at the Hosted UI's token endpoint (a public client).
export async function tokenRequest(hostedUi, grant) {
  const response = await fetch(new URL("/oauth2/token", hostedUi.domain), {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: hostedUi.client_id, ...grant }),
  });
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  return response.json();
}
