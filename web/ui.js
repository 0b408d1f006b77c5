// Small helpers the patient's pages share (app.html, status.html): building elements, times in words.
// Values from the API always go into the page as text (textContent), never as HTML. The words of the patient
// pages (dayWords, when, doctorWords, statusWords, positionWords, errorWords) are the catalog's (i18n.js), in
// the language shown; the desk uses only $, el, hhmm, pad, plural, todayStr and uuid, in English.
import { ApiError } from "./api.js";
import { dateWords, has, t, tn } from "./i18n.js";

export const $ = (id) => document.getElementById(id);
export const pad = (n) => String(n).padStart(2, "0");
export const todayStr = (d = new Date()) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

export function hhmm(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// "today", "tomorrow" or "Tue 8 Dec" (in the language shown): the day of a time, as a patient says it.
export function dayWords(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const today = new Date();
  if (todayStr(d) === todayStr(today)) return t("day.today");
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (todayStr(d) === todayStr(tomorrow)) return t("day.tomorrow");
  return dateWords(d);
}

export const isToday = (iso) => {
  const d = new Date(iso);
  return !Number.isNaN(d.getTime()) && todayStr(d) === todayStr();
};

// "09:40", or "tomorrow 09:40" / "Tue 8 Dec 09:40" when it is not today.
export function when(iso) {
  const time = hhmm(iso);
  if (!time) return "";
  return isToday(iso) ? time : t("day.at", { day: dayWords(iso), time });
}

export const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// crypto.randomUUID needs a secure context; a page on plain http over a LAN still gets a key.
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === "dataset") Object.assign(e.dataset, v);
    else if (k === "className") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  e.append(...children.filter((c) => c != null).map((c) => (c instanceof Node ? c : String(c))));
  return e;
}

// "Dr Asha Rao, room 12B" (the room when the directory has one). Names and rooms are the API's, as they are.
export const doctorWords = (name, room) => (room ? t("doctor.withRoom", { name, room }) : name);

// A booking's state as the patient is told it (the Booking's and the Status's `status`), with what to do next.
export function statusWords(s, doctor) {
  switch (s.status) {
    case "WAITLISTED":
      return s.waitlistPosition ? t("status.WAITLISTED.number", { n: s.waitlistPosition }) : t("status.WAITLISTED");
    case "BOOKED":
    case "CHECKED_IN":
    case "COMPLETED":
    case "NO_SHOW":
      return t(`status.${s.status}`);
    case "CALLED":
      return t("status.CALLED", { doctor });
    case "CANCELLED":
      return s.closed ? t("status.CANCELLED.closed") : t("status.CANCELLED");
    default:
      return String(s.status || "");
  }
}

// "3 patients before you", "You are next", or nothing when the booking is not in the queue (or is called).
export function positionWords(position, status) {
  if (position == null || status === "CALLED") return "";
  if (position === 0) return t("position.next");
  return tn("position.before", position);
}

// A failure in the patient's words (the desk has its own, describeError in api.js): the codes a patient meets,
// and the service's `message` never (it is English, and may name ids).
export function errorWords(err) {
  if (!(err instanceof ApiError)) return t("error.other");
  if (err.network) return t(err.code === "TIMEOUT" ? "error.timeout" : "error.network");
  if (err.code === "INVALID_CODE") return t("error.INVALID_CODE");
  if (err.status === 401) return t("error.UNAUTHORIZED");
  const seconds = err.retryAfter ?? 1;
  const minutes = Math.max(1, Math.ceil(seconds / 60));
  if (err.status === 429) return t(err.code === "TOO_MANY_CODES" ? "error.TOO_MANY_CODES" : "error.busy", { seconds, minutes });
  if (err.status === 503) return t(err.details.length > 0 ? "error.unavailablePartWay" : "error.unavailable");
  if (err.code && has(`error.${err.code}`)) return t(`error.${err.code}`);
  if (err.status === 403) return t("error.FORBIDDEN");
  if (err.status === 404) return t("error.NOT_FOUND");
  if (err.status >= 500) return t("error.failed", { status: err.status });
  return t("error.refused", { code: err.code || `HTTP_${err.status}` });
}
