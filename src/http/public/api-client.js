// The recordings API as the pages call it: the page's `?token=` (if any) goes along as a bearer token, and an error
// answer becomes an Error carrying the server's message.

/** Returns `api(path, init)` resolving to the JSON body (`{}` for 204). */
export function createApi(token) {
  return async function api(path, init = {}) {
    const headers = { ...(init.headers ?? {}), ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const res = await fetch(path, { ...init, headers });
    if (res.status === 204) return {};
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
    return body;
  };
}
