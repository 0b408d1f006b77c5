// The waiting-room board: board.html?doctors=<id>,<id>[&date=YYYY-MM-DD][&names=Dr Rao,Dr Iyer][&api=<base>]
// Polls GET /boards/{doctorId}?date= (public) every 2.5 s per doctor. A newly called token pulses
// for 10 s, stays highlighted, is spoken (speechSynthesis) and announced to screen readers.
import { createClient, describeError, loadConfig, path, resolveApiBase } from "./api.js";

const POLL_MS = 2500;
const FRESH_MS = 10000;
const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const params = new URLSearchParams(location.search);
const doctors = [...new Set((params.get("doctors") || "").split(",").map((s) => s.trim()))].filter((s) => ID.test(s));
const names = (params.get("names") || "").split(",").map((s) => s.trim());
const fixedDate = DATE.test(params.get("date") || "") ? params.get("date") : null;

const $ = (id) => document.getElementById(id);
const pad = (n) => String(n).padStart(2, "0");
const today = (d = new Date()) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const hhmm = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}`;
const hhmmss = (d) => `${hhmm(d)}:${pad(d.getSeconds())}`;
const range = (s) => `${hhmm(new Date(s.start))}–${hhmm(new Date(s.end))}`;

// "dr-rao" -> "Dr Rao"; an explicit ?names= entry wins (the directory's name comes with the first answer).
function displayName(id, i) {
  if (names[i]) return names[i];
  const m = /^dr[-_.:]?(.+)$/i.exec(id);
  if (!m) return id;
  return "Dr " + m[1].split(/[-_.:]+/).map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(" ");
}

// The slot the room cares about: one whose start..end (+ its delay) contains now (preferring one
// calling, then one with people waiting, then the one strictly containing now), else one calling,
// else the next upcoming, else the last of the day.
export function pickSlot(slots, now = Date.now()) {
  if (!slots.length) return null;
  const t = (s) => [Date.parse(s.start), Date.parse(s.end)];
  const open = slots.filter((s) => {
    const [a, b] = t(s);
    return a <= now && now < b + (s.delayed ? (s.delayMinutes || 0) * 60000 : 0);
  });
  const rank = (s) => {
    const [a, b] = t(s);
    return (s.calling != null ? 0 : s.waiting > 0 ? 1 : a <= now && now < b ? 2 : 3) * 1e13 + a;
  };
  if (open.length) return open.reduce((x, y) => (rank(y) < rank(x) ? y : x));
  return (
    slots.find((s) => s.calling != null) ||
    slots.find((s) => t(s)[0] > now) ||
    slots[slots.length - 1]
  );
}

// ---- speech ---------------------------------------------------------------------------------
const canSpeak = "speechSynthesis" in window && typeof window.SpeechSynthesisUtterance === "function";

function say(text) {
  if (!canSpeak) return;
  try {
    const u = new SpeechSynthesisUtterance(text);
    u.lang = document.documentElement.lang || "en";
    u.rate = 0.9;
    window.speechSynthesis.speak(u);
  } catch {
    /* no voice: the screen and the live region still show it */
  }
}

// Browsers speak only after the page has had a click or key press: offer one until then.
function setUpSoundButton() {
  const btn = $("enable-sound");
  const activated = () => navigator.userActivation?.hasBeenActive;
  if (!canSpeak || activated() === true) return;
  btn.hidden = false;
  const done = () => {
    btn.hidden = true;
    document.removeEventListener("keydown", done);
  };
  btn.addEventListener("click", () => {
    say("Announcements on");
    done();
  });
  document.addEventListener("keydown", done);
}

// ---- columns --------------------------------------------------------------------------------
const board = $("board");
const columns = doctors.map((id, i) => {
  const el = $("column-template").content.firstElementChild.cloneNode(true);
  const q = (sel) => el.querySelector(sel);
  el.dataset.doctorId = id;
  const name = displayName(id, i);
  q(".doctor-name").textContent = name;
  el.setAttribute("aria-label", name);
  return {
    id,
    name,
    room: null,
    fixedName: !!names[i],
    el,
    nameEl: q(".doctor-name"),
    roomEl: q(".doctor-room"),
    time: q(".slot-time"),
    leave: q(".notice-leave"),
    delay: q(".notice-delay"),
    calling: q(".calling"),
    token: q(".calling-token"),
    next: q(".next-tokens"),
    waiting: q(".waiting"),
    stale: q(".stale"),
    lastCallKey: undefined, // undefined = not loaded yet: the first load is never spoken
    freshTimer: 0,
    lastOk: null,
  };
});

// The directory's name and room (GET /boards answers doctorName and room; an id with no record
// answers doctorName = the id and room null: then the id made readable, or ?names=).
function renderDoctor(col, data) {
  const recorded = typeof data?.doctorName === "string" && data.doctorName.trim() !== "" && data.doctorName !== col.id;
  if (recorded && !col.fixedName && data.doctorName !== col.name) {
    col.name = data.doctorName;
    col.nameEl.textContent = col.name;
    col.el.setAttribute("aria-label", col.name);
  }
  col.room = typeof data?.room === "string" && data.room.trim() ? data.room.trim() : null;
  col.roomEl.hidden = !col.room;
  col.roomEl.textContent = col.room ? `Room ${col.room}` : "";
  // Known to be unknown only when the answer says so: the id back as its name, and no room.
  return data?.doctorName === col.id && col.room === null;
}

function render(col, data, now) {
  const slots = Array.isArray(data?.slots) ? data.slots : [];
  const unknown = renderDoctor(col, data) && slots.length === 0;
  const slot = pickSlot(slots, now);
  const onLeave = slots.length > 0 && (slots.every((s) => s.closed) || !!slot?.closed);
  col.el.classList.toggle("is-leave", onLeave);
  col.el.classList.toggle("no-slots", !slot);
  col.el.classList.toggle("is-unknown", unknown);
  col.leave.hidden = !onLeave;
  // On leave, the notice says it all: no "Next session" time above it.
  col.time.hidden = onLeave;

  if (onLeave) {
    col.time.textContent = "";
  } else if (unknown) {
    col.time.textContent = `No doctor ${col.id} is recorded`;
  } else if (!slot) {
    col.time.textContent = "No sessions today";
  } else if (Date.parse(slot.start) > now) {
    col.time.textContent = `Next session ${range(slot)}`;
  } else if (Date.parse(slot.end) + (slot.delayMinutes || 0) * 60000 <= now && slot.calling == null) {
    col.time.textContent = `Sessions ended (last ${range(slot)})`;
  } else {
    col.time.textContent = range(slot);
  }

  const delayed = !!slot?.delayed && !onLeave;
  col.delay.hidden = !delayed;
  col.delay.textContent = slot?.delayMinutes > 0 ? `Running ${slot.delayMinutes} min late` : "Running late";

  const calling = onLeave ? null : (slot?.calling ?? null);
  col.token.textContent = calling == null ? "—" : String(calling);
  col.token.classList.toggle("is-empty", calling == null);
  col.calling.classList.toggle("is-calling", calling != null);

  const next = onLeave ? [] : (slot?.next || []).slice(0, 5);
  col.next.replaceChildren(
    ...(next.length ? next : [null]).map((n) => {
      const li = document.createElement("li");
      li.textContent = n == null ? "—" : String(n);
      if (n == null) li.className = "is-empty";
      return li;
    }),
  );
  const waiting = onLeave ? 0 : slot?.waiting || 0;
  col.waiting.textContent = waiting === 0 ? "No one waiting" : `${waiting} waiting`;

  // A new call: a token being called that was not being called at the last successful poll.
  const key = calling == null ? null : `${slot.slotId}#${calling}`;
  const isNew = col.lastCallKey !== undefined && key !== null && key !== col.lastCallKey;
  col.lastCallKey = key;
  if (isNew) {
    col.calling.classList.remove("is-fresh");
    void col.calling.offsetWidth; // restart the animation
    col.calling.classList.add("is-fresh");
    clearTimeout(col.freshTimer);
    col.freshTimer = setTimeout(() => col.calling.classList.remove("is-fresh"), FRESH_MS);
    return calling;
  }
  if (key === null) col.calling.classList.remove("is-fresh");
  return null;
}

// ---- polling --------------------------------------------------------------------------------
let api;
let shownDate = null;
let inFlight = false;
let timer = 0;
let lastAllOk = null;

async function tick() {
  if (inFlight) return;
  inFlight = true;
  clearTimeout(timer);
  try {
    await poll();
  } finally {
    inFlight = false;
    timer = setTimeout(tick, POLL_MS);
  }
}

async function poll() {
  const date = fixedDate || today();
  if (date !== shownDate) {
    // A new day (the board left on overnight): start afresh, without speaking the first load.
    shownDate = date;
    $("board-date").textContent = new Date(`${date}T12:00:00`).toLocaleDateString(undefined, {
      weekday: "short",
      day: "numeric",
      month: "short",
    });
    columns.forEach((c) => (c.lastCallKey = undefined));
  }
  const results = await Promise.allSettled(
    columns.map((c) => api.get(path`/boards/${c.id}` + `?date=${encodeURIComponent(date)}`)),
  );
  const now = Date.now();
  const called = [];
  let failed = 0;
  results.forEach((r, i) => {
    const col = columns[i];
    let reason = r.reason;
    if (r.status === "fulfilled") {
      try {
        const token = render(col, r.value, now);
        if (token != null) called.push({ col, token });
        col.lastOk = new Date(now);
        col.stale.hidden = true;
        col.el.classList.remove("is-stale");
        return;
      } catch (e) {
        reason = e; // an answer the page cannot read: keep what is shown, say so
      }
    }
    failed += 1;
    col.el.classList.add("is-stale");
    col.stale.hidden = false;
    // The desk's words ("the lists are refreshed") do not fit a waiting room: a short reason.
    const why = reason?.network ? "Connection lost" : reason?.status ? `No answer for this doctor (${reason.status})` : describeError(reason).text;
    col.stale.textContent = col.lastOk ? `${why}: showing ${hhmmss(col.lastOk)}, retrying` : `${why}, retrying`;
  });
  if (called.length) {
    $("announce").textContent = called.map(({ col, token }) => `${col.name}: now calling token ${token}`).join(". ");
    called.forEach(({ col, token }) =>
      say(col.room ? `Token ${token}, please go to room ${col.room}, ${col.name}` : `Token ${token}, please go to ${col.name}'s room`),
    );
  }
  const conn = $("conn");
  if (failed === 0) {
    lastAllOk = new Date(now);
    conn.dataset.state = "ok";
    conn.textContent = `Last updated ${hhmmss(lastAllOk)}`;
  } else {
    conn.dataset.state = "lost";
    conn.textContent =
      (failed === columns.length ? "Connection lost, retrying…" : `${failed} of ${columns.length} doctors not updating, retrying…`) +
      (lastAllOk ? ` Last updated ${hhmmss(lastAllOk)}` : "");
  }
}

// Landscape (1920×1080, 1280×720): one column per doctor, up to 4, more wrap into rows.
// Portrait (1080×1920): one row per doctor (two columns from 5 doctors on), each row laid out
// sideways, so that no doctor gets a thin column over an empty half screen.
function layout() {
  const n = columns.length;
  const portrait = window.innerHeight > window.innerWidth * 1.1;
  const cols = portrait ? (n > 4 ? 2 : 1) : Math.min(n, 4);
  board.classList.toggle("is-portrait", portrait);
  board.style.setProperty("--cols", String(cols));
  board.style.setProperty("--rows", String(Math.ceil(n / cols)));
}

function clock() {
  $("clock").textContent = hhmm(new Date());
  setTimeout(clock, 1000 - (Date.now() % 1000) + 5);
}

async function main() {
  clock();
  if (!doctors.length) {
    $("board-empty").textContent = "No doctors chosen: open this page as board.html?doctors=dr-1,dr-2";
    $("conn").textContent = "";
    return;
  }
  const cfg = await loadConfig();
  api = createClient({ base: resolveApiBase({ configBase: cfg.apiBase }), timeoutMs: 4000 });
  layout();
  window.addEventListener("resize", layout);
  board.replaceChildren(...columns.map((c) => c.el));
  setUpSoundButton();
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) tick();
  });
  tick();
}

main();
