// A tiny client for the OPD token API (contract: shared/api-contract.md, version 2).
// - base URL: same origin by default; see resolveApiBase()
// - bearer token, JSON in and out, a timeout per request
// - every failure becomes an ApiError {status, code, message, details, retryAfter, network}
//   and describeError() turns one into words for people.

export class ApiError extends Error {
  constructor({ status = 0, code = "NETWORK", message = "", details = [], retryAfter = null, network = false }) {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
    this.retryAfter = retryAfter;
    this.network = network;
  }
}

// web/config.json, filled by the deploy step; every field empty = local (same origin, local sign-in).
export async function loadConfig(url = "config.json") {
  const empty = { apiBase: "", cognitoDomain: "", clientId: "", redirectUri: "" };
  try {
    const res = await fetch(url, { cache: "no-store" });
    if (!res.ok) return empty;
    const cfg = await res.json();
    for (const k of Object.keys(empty)) if (typeof cfg?.[k] === "string") empty[k] = cfg[k].trim();
    return empty;
  } catch {
    return empty;
  }
}

const trimSlash = (s) => s.replace(/\/+$/, "");

function sameOrigin(url) {
  try {
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

// The API base, first of: ?api=, <meta name="opd-api" content="...">, configBase, "" (same origin).
// A page that sends a bearer token passes allowForeignParam=false: a link such as
// desk.html?api=https://elsewhere must not be able to send staff tokens to another host, so
// there ?api= is honoured only when it is same origin (e.g. "/prod") or equals the configured base.
export function resolveApiBase({ configBase = "", allowForeignParam = true } = {}) {
  const meta = document.querySelector('meta[name="opd-api"]')?.content?.trim() || "";
  const configured = trimSlash(meta || configBase || "");
  const param = new URLSearchParams(location.search).get("api")?.trim();
  if (param) {
    const p = trimSlash(param);
    if (allowForeignParam || sameOrigin(p) || p === configured) return p;
  }
  return configured;
}

// Encodes every interpolated value: path`/slots/${id}/queue`.
export function path(strings, ...values) {
  return strings.reduce((out, s, i) => out + s + (i < values.length ? encodeURIComponent(values[i]) : ""), "");
}

function parseRetryAfter(value) {
  if (!value) return null;
  const secs = Number(value);
  if (Number.isFinite(secs)) return Math.max(0, Math.ceil(secs));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

// createClient({base, getToken, timeoutMs}) -> {get, post, put, request}
export function createClient({ base = "", getToken = () => null, timeoutMs = 10000 } = {}) {
  async function request(method, url, { body, headers = {}, signal } = {}) {
    const h = { accept: "application/json", ...headers };
    const token = getToken();
    if (token) h.authorization = `Bearer ${token}`;
    const init = { method, headers: h, cache: "no-store" };
    if (body !== undefined) {
      h["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    // A controller rather than AbortSignal.timeout/any: older kiosk browsers lack those.
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, timeoutMs);
    signal?.addEventListener("abort", () => ctl.abort(), { once: true });
    init.signal = ctl.signal;

    let res;
    try {
      res = await fetch(base + url, init);
    } catch {
      clearTimeout(timer);
      throw new ApiError({
        code: timedOut ? "TIMEOUT" : "NETWORK",
        message: timedOut ? "The service did not answer in time" : "Could not reach the service",
        network: true,
      });
    }
    let text;
    try {
      text = await res.text();
    } catch {
      text = null;
    } finally {
      clearTimeout(timer);
    }
    if (text === null && res.ok) {
      throw new ApiError({ code: "NETWORK", message: "The answer was cut off", network: true });
    }
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (res.ok) return data;

    const env = data && typeof data === "object" ? data : {};
    const err = env.error && typeof env.error === "object" ? env.error : null;
    throw new ApiError({
      status: res.status,
      // API Gateway's own answers (JWT authorizer 401, 5xx) are {"message": "..."}.
      code: err?.code || (res.status === 401 ? "UNAUTHORIZED" : `HTTP_${res.status}`),
      message: err?.message || (typeof env.message === "string" ? env.message : "") || res.statusText,
      details: err?.details,
      retryAfter: parseRetryAfter(res.headers.get("retry-after")),
    });
  }
  return {
    request,
    get: (url, opts) => request("GET", url, opts),
    post: (url, body, opts) => request("POST", url, { ...opts, body }),
    put: (url, body, opts) => request("PUT", url, { ...opts, body }),
  };
}

// Words for a failure: {text, details: [{field, message}]}.
export function describeError(err) {
  if (!(err instanceof ApiError)) return { text: String(err?.message || err), details: [] };
  if (err.network) return { text: `${err.message}: check the connection, then try again (nothing was confirmed)`, details: [] };
  if (err.status === 401) return { text: "Signed out: please sign in again", details: [] };
  if (err.status === 429) return { text: `Busy, try again in ${err.retryAfter ?? 1} s`, details: [] };
  if (err.status === 503) return { text: "Service unavailable, nothing was written", details: [] };
  if (err.code === "SLOT_FULL") {
    const d = err.details[0];
    if (d && d.tier) return { text: `Slot full for ${d.tier}: ${d.booked}/${d.limit}`, details: [] };
  }
  if (err.code === "VALIDATION_ERROR") {
    const details = err.details
      .filter((d) => d && typeof d === "object")
      .map((d) => ({ field: String(d.field ?? ""), message: String(d.message ?? "") }));
    return { text: err.message || "Some fields are not valid", details };
  }
  if (err.status === 403) return { text: err.message || "Your role may not do this", details: [] };
  if (err.status >= 500) return { text: `The service failed (HTTP ${err.status}); it may or may not have been written: reload to check`, details: [] };
  return { text: err.message || `Request failed (HTTP ${err.status})`, details: [] };
}
