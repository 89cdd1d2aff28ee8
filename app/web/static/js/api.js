// The JSON API: bearer token, problem+json errors with their `code`, RFC 8288 Link headers.
export class ApiError extends Error {
  constructor(status, problem, retryAfter) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || `http_${status}`;
    this.retryAfter = retryAfter;
  }
}

export class NetworkError extends Error {}

const hooks = { token: () => null, unauthenticated: () => {} };

export function configureApi({ token, unauthenticated }) {
  hooks.token = token;
  hooks.unauthenticated = unauthenticated;
}

// `<https://host/api/x?cursor=c>; rel="next", <...>; rel="prev"` -> {next: "/api/x?cursor=c", ...}
export function parseLinks(header) {
  const links = {};
  for (const match of (header || "").matchAll(/<([^>]*)>\s*;\s*rel="([^"]+)"/g)) {
    const url = new URL(match[1], location.href);
    links[match[2]] = url.pathname + url.search; // same origin, whatever host the server saw
  }
  return links;
}

export async function request(method, path, { body, headers = {}, anonymous = false } = {}) {
  // Naming problem+json keeps RFC 9457 errors even where the service answers the Cruddur
  // SPA's array of codes (CRUDDUR_ERROR_FORMAT=spa).
  const sent = { Accept: "application/json, application/problem+json", ...headers };
  const token = anonymous ? null : hooks.token();
  if (token) sent.Authorization = `Bearer ${token}`;
  if (body !== undefined) sent["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new NetworkError("The server cannot be reached.");
  }
  if (response.status === 200) {
    return { data: await response.json(), links: parseLinks(response.headers.get("Link")) };
  }
  const problem = await response.json().catch(() => ({}));
  const error = new ApiError(response.status, problem, Number(response.headers.get("Retry-After")) || null);
  if (response.status === 401 && !anonymous) hooks.unauthenticated(error);
  throw error;
}
