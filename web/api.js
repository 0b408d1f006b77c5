// A tiny client for the OPD token API (contract: shared/api-contract.md, version 3).
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
// hospitalName: the name the token slips print (the local server fills it from HOSPITAL_NAME).
export async function loadConfig(url = "config.json") {
  const empty = { apiBase: "", cognitoDomain: "", clientId: "", redirectUri: "", hospitalName: "" };
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

// The contract's error codes in the words of the people at the desk. The service's own `message`
// may name internal ids (a slot's, a booking's): it is never shown for these codes.
const TIER_WORDS = { STANDARD: "standard", PREMIUM: "premium", CRITICAL: "critical" };
export const CODE_WORDS = {
  UNAUTHORIZED: "Signed out: please sign in again",
  INVALID_CODE: "That code is wrong or has expired: ask for a new one",
  FORBIDDEN: "Your role may not do this: ask an admin",
  NOT_FOUND: "Not found: it may have been removed meanwhile; the lists are refreshed",
  SLOT_FULL: "No place left in this slot for this kind of patient",
  WAITLIST_FULL: "The slot is full and so is its waitlist",
  DUPLICATE_BOOKING: "This patient already has a booking or a waitlist place in this slot (or has rebooked it 3 times)",
  INVALID_TRANSITION: "Not possible any more: the booking has changed meanwhile; the lists are refreshed",
  SLOT_EXISTS: "The doctor already has a slot at that time",
  IDEMPOTENCY_CONFLICT: "This booking is still being sent: wait a moment, then press Book again",
  SLOT_CLOSED: "The slot is closed: it has ended, or the doctor is on leave",
  DAY_FULL: "The doctor already has 100 slots on that day",
  PATIENT_EXISTS: "A patient with this ABHA address is registered already",
  TOO_MANY_CODES: "Too many codes asked for this phone: wait a few minutes",
  SLOT_BUSY: "Busy",
  DEPENDENCY_UNAVAILABLE: "Service unavailable, nothing was written",
};

// Words for a failure: {text, details: [{field, message}]}.
export function describeError(err) {
  if (!(err instanceof ApiError)) return { text: String(err?.message || err), details: [] };
  if (err.network) return { text: `${err.message}: check the connection, then try again (nothing was confirmed)`, details: [] };
  if (err.code === "INVALID_CODE") return { text: CODE_WORDS.INVALID_CODE, details: [] };
  if (err.status === 401) return { text: CODE_WORDS.UNAUTHORIZED, details: [] };
  if (err.status === 429) {
    const base = err.code === "TOO_MANY_CODES" ? CODE_WORDS.TOO_MANY_CODES : "Busy";
    return { text: `${base}, try again in ${err.retryAfter ?? 1} s`, details: [] };
  }
  if (err.status === 503) {
    const unsure = err.details.length > 0;
    return {
      text: unsure
        ? "Service unavailable part way: press the same button again to finish it"
        : CODE_WORDS.DEPENDENCY_UNAVAILABLE,
      details: [],
    };
  }
  if (err.code === "SLOT_FULL") {
    const d = err.details[0];
    if (d && d.tier) {
      const tier = TIER_WORDS[d.tier] || String(d.tier).toLowerCase();
      return { text: `Slot full for ${tier} patients: ${d.booked} of ${d.limit} places taken`, details: [] };
    }
  }
  if (err.code === "VALIDATION_ERROR") {
    const details = err.details
      .filter((d) => d && typeof d === "object")
      .map((d) => ({ field: String(d.field ?? ""), message: String(d.message ?? "") }));
    return { text: err.message || "Some fields are not valid", details };
  }
  if (CODE_WORDS[err.code]) return { text: CODE_WORDS[err.code], details: [] };
  if (err.status === 403) return { text: CODE_WORDS.FORBIDDEN, details: [] };
  if (err.status === 404) return { text: CODE_WORDS.NOT_FOUND, details: [] };
  if (err.status >= 500) return { text: `The service failed (HTTP ${err.status}); it may or may not have been written: reload to check`, details: [] };
  return { text: `The service refused this (${err.code || `HTTP ${err.status}`})`, details: [] };
}
