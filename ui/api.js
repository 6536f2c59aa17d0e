// The console's calls to mlosd: same-origin fetch with the token as `Authorization: Bearer`.
// The token lives in sessionStorage (this tab only, gone when it closes).

const KEY = "mlos.console.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function savedToken() {
  try {
    return sessionStorage.getItem(KEY) || "";
  } catch {
    return "";
  }
}

export function saveToken(token) {
  try {
    if (token) sessionStorage.setItem(KEY, token);
    else sessionStorage.removeItem(KEY);
  } catch {
    // Storage may be disabled: the token then lasts as long as the page.
  }
  current = token || "";
}

let current = savedToken();

// One call; resolves to the parsed JSON answer, rejects with ApiError (status 0: no answer).
// `token` overrides the saved one (the login form tries a token before saving it).
export async function call(method, path, { token, body } = {}) {
  const headers = { Accept: "application/json" };
  const t = token !== undefined ? token : current;
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw new ApiError(0, `the server did not answer (${e.message})`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const message = data && typeof data.error === "string" ? data.error : text || res.statusText;
    throw new ApiError(res.status, message);
  }
  return data;
}

export const get = (path, options) => call("GET", path, options);
export const post = (path, body, options = {}) => call("POST", path, { ...options, body });

// A model id or name as one path segment ("ns/name@1" -> "ns%2Fname%401").
export const segment = (id) => encodeURIComponent(id);
