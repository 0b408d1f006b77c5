// Small helpers the patient's pages share (app.html, status.html): building elements, times in words.
// Values from the API always go into the page as text (textContent), never as HTML.

export const $ = (id) => document.getElementById(id);
export const pad = (n) => String(n).padStart(2, "0");
export const todayStr = (d = new Date()) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

export function hhmm(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// "today", "tomorrow" or "Tue 8 Dec": the day of a time, as a patient says it.
export function dayWords(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const today = new Date();
  if (todayStr(d) === todayStr(today)) return "today";
  const tomorrow = new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1);
  if (todayStr(d) === todayStr(tomorrow)) return "tomorrow";
  return d.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short" });
}

// "09:40", or "tomorrow 09:40" / "Tue 8 Dec 09:40" when it is not today.
export function when(iso) {
  const t = hhmm(iso);
  if (!t) return "";
  const day = dayWords(iso);
  return day === "today" ? t : `${day} ${t}`;
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

// "Dr Asha Rao, room 12B" (the room when the directory has one).
export const doctorWords = (name, room) => (room ? `${name}, room ${room}` : name);

// A booking's state as the patient is told it (the Booking's and the Status's `status`), with what to do next.
export function statusWords(s, doctor) {
  switch (s.status) {
    case "WAITLISTED":
      return s.waitlistPosition
        ? `On the waitlist: number ${s.waitlistPosition}. You get an SMS if a place comes free.`
        : "On the waitlist. You get an SMS if a place comes free.";
    case "BOOKED":
      return "Booked. Please check in at reception when you arrive.";
    case "CHECKED_IN":
      return "Checked in. Please wait to be called.";
    case "CALLED":
      return `It is your turn: please go in to ${doctor} now.`;
    case "COMPLETED":
      return "Your consultation is completed.";
    case "CANCELLED":
      return s.closed ? "Cancelled: the doctor is not available that day. Please book another slot." : "Cancelled.";
    case "NO_SHOW":
      return "Missed: you were not here when called. Please book again.";
    default:
      return String(s.status || "");
  }
}

// "3 patients before you", "You are next", or nothing when the booking is not in the queue (or is called).
export function positionWords(position, status) {
  if (position == null || status === "CALLED") return "";
  if (position === 0) return "You are next";
  return position === 1 ? "1 patient before you" : `${position} patients before you`;
}
