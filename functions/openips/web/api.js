// The JSON API, on this page's own origin: relative URLs only, so the key never leaves for
// another site. The key lives in sessionStorage (this tab), never in a URL or a cookie.

const KEY = "openips.apiKey";

export class ApiError extends Error {
  constructor(status, type, code, reason) {
    super(reason);
    Object.assign(this, { status, type, code, reason });
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { if (value) sessionStorage.setItem(KEY, value); else sessionStorage.removeItem(KEY); },
};

export async function call(method, path, body, key = session.key) {
  if (!path.startsWith("/v1/")) throw new Error(`not an API path: ${path}`);
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                                   credentials: "omit", cache: "no-store", redirect: "error" });
  } catch (error) {
    throw new ApiError(0, "network", 0, `The API cannot be reached (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : {}; } catch { data = null; }
  if (!response.ok) {
    const fault = data && data.fault;
    if (fault) throw new ApiError(response.status, fault.type, fault.code, fault.reason);
    throw new ApiError(response.status, "http", 0, `HTTP ${response.status}`);
  }
  return data;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
