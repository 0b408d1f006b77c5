// The waiting-room board: board.html?doctors=<id>,<id>[&counters=reg-1,reg-2][&date=YYYY-MM-DD]
// [&names=Dr Rao,Dr Iyer][&lang=hi,en][&langEvery=8][&api=<base>]
// Polls GET /boards/{doctorId}?date= (public) every 2.5 s per doctor, and GET /boards/counters/{counterId}?date=
// per registration counter (its column beside the doctors': its name, the label called, the next ones, how many
// wait). A newly called token pulses
// for 10 s, stays highlighted, is spoken (speechSynthesis) and announced to screen readers.
// With ?lang= (one or more of i18n.js's languages, default en) the labels are shown in each language in turn,
// langEvery seconds each (default 8), and each new call is spoken in each language in turn, with a voice of
// that language where the device has one; a language it has no voice for is named in a note for the staff.
// Doctors' names and rooms are the API's, as they are. The staff's own texts (the button that turns the voice
// on, the note) stay English.
import { createClient, loadConfig, path, resolveApiBase } from "./api.js";
import { dateWords, known, languageOf, loadLanguages, t, tn, translatePage, useLanguage } from "./i18n.js";

const POLL_MS = 2500;
const FRESH_MS = 10000;
const LANG_EVERY_S = 8;
const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

const params = new URLSearchParams(location.search);
const doctors = [...new Set((params.get("doctors") || "").split(",").map((s) => s.trim()))].filter((s) => ID.test(s));
const counters = [...new Set((params.get("counters") || "").split(",").map((s) => s.trim()))].filter((s) => ID.test(s));
const names = (params.get("names") || "").split(",").map((s) => s.trim());
const fixedDate = DATE.test(params.get("date") || "") ? params.get("date") : null;
const languages = [...new Set((params.get("lang") || "").split(",").map(known).filter(Boolean))];
if (!languages.length) languages.push("en");
const langEvery = Math.min(3600, Math.max(1, Number(params.get("langEvery")) || LANG_EVERY_S)) * 1000;

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

// The device's voice for a language: its exact tag (hi-IN, ta-IN, en-IN), else any of the language (en-GB).
// undefined: the device lists no voices (yet, or at all): then the browser picks by `lang` alone.
function voiceFor(code) {
  let voices = [];
  try {
    voices = window.speechSynthesis.getVoices() || [];
  } catch {
    voices = [];
  }
  if (!voices.length) return undefined;
  const tag = (v) => String(v.lang || "").replace(/_/g, "-").toLowerCase();
  const wanted = (languageOf(code)?.voice || code).toLowerCase();
  return voices.find((v) => tag(v) === wanted) || voices.find((v) => tag(v).split("-")[0] === code) || null;
}

function say(text, code = "en") {
  if (!canSpeak) return;
  const voice = voiceFor(code);
  if (voice === null) return; // no voice for it here: shown, not spoken (see the staff note)
  try {
    const u = new SpeechSynthesisUtterance(text);
    u.lang = voice?.lang || languageOf(code)?.voice || code;
    u.rate = 0.9;
    try {
      if (voice) u.voice = voice;
    } catch {
      /* a voice object the browser refuses: its lang still picks one */
    }
    u.onstart = soundWorks; // spoken without a tap (a kiosk started with the autoplay flag): no button needed
    window.speechSynthesis.speak(u);
  } catch {
    /* no voice: the screen and the live region still show it */
  }
}

// For the staff: the board's languages this device cannot speak (known once it lists its voices).
function noteVoices() {
  const note = $("voice-note");
  const missing = canSpeak ? languages.filter((code) => voiceFor(code) === null) : [];
  const named = missing.map((code) => languageOf(code).english);
  // "No Tamil voice on this device: Tamil calls are shown, not spoken"; "No Hindi or Tamil voice ...: those calls ..."
  const list = named.length > 1 ? `${named.slice(0, -1).join(", ")} or ${named.at(-1)}` : named[0];
  note.hidden = missing.length === 0;
  note.textContent = missing.length
    ? `No ${list} voice on this device: ${named.length > 1 ? "those" : list} calls are shown, not spoken`
    : "";
}

// Browsers speak only after the page has had a click or key press: offer one until then (or until an
// announcement is heard anyway: a kiosk browser started with --autoplay-policy=no-user-gesture-required).
let soundWorks = () => {};
function setUpSoundButton() {
  const btn = $("enable-sound");
  const activated = () => navigator.userActivation?.hasBeenActive;
  if (!canSpeak || activated() === true) return;
  btn.hidden = false;
  const done = () => {
    btn.hidden = true;
    document.removeEventListener("keydown", done);
  };
  soundWorks = done;
  btn.addEventListener("click", () => {
    say("Announcements on", "en");
    done();
  });
  document.addEventListener("keydown", done);
}

// ---- columns --------------------------------------------------------------------------------
const board = $("board");
const doctorColumns = doctors.map((id, i) => {
  const el = $("column-template").content.firstElementChild.cloneNode(true);
  const q = (sel) => el.querySelector(sel);
  el.dataset.doctorId = id;
  const name = displayName(id, i);
  q(".doctor-name").textContent = name;
  el.setAttribute("aria-label", name);
  return {
    kind: "doctor",
    url: path`/boards/${id}`,
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
    view: null, // what render() decided, painted in the language shown (paint)
    why: null, // why the last poll failed: {network} | {status} | {unreadable}, or null
  };
});

// A registration counter's column: its name (the id until the first answer names it), the label called, the next.
const counterColumns = counters.map((id) => {
  const el = $("counter-template").content.firstElementChild.cloneNode(true);
  const q = (sel) => el.querySelector(sel);
  el.dataset.counterId = id;
  q(".doctor-name").textContent = id;
  el.setAttribute("aria-label", id);
  return {
    kind: "counter",
    url: path`/boards/counters/${id}`,
    id,
    name: id,
    el,
    nameEl: q(".doctor-name"),
    calling: q(".calling"),
    token: q(".calling-token"),
    next: q(".next-tokens"),
    waiting: q(".waiting"),
    stale: q(".stale"),
    lastCallKey: undefined,
    freshTimer: 0,
    lastOk: null,
    view: null,
    why: null,
  };
});
const columns = [...doctorColumns, ...counterColumns];

// The next tokens or labels (up to 5), "—" for none.
function showNext(col, next) {
  col.next.replaceChildren(
    ...(next.length ? next : [null]).map((n) => {
      const li = document.createElement("li");
      li.textContent = n == null ? "—" : String(n);
      if (n == null) li.className = "is-empty";
      return li;
    }),
  );
}

// Marks a new call (a key not called at the last successful poll; never on the first load): the 10 s pulse.
// True when it is new, to be announced.
function markFresh(col, key) {
  const isNew = col.lastCallKey !== undefined && key !== null && key !== col.lastCallKey;
  col.lastCallKey = key;
  if (isNew) {
    col.calling.classList.remove("is-fresh");
    void col.calling.offsetWidth; // restart the animation
    col.calling.classList.add("is-fresh");
    clearTimeout(col.freshTimer);
    col.freshTimer = setTimeout(() => col.calling.classList.remove("is-fresh"), FRESH_MS);
    return true;
  }
  if (key === null) col.calling.classList.remove("is-fresh");
  return false;
}

// A counter's board: {counterId, name, date, calling: label or null, next: [labels], waiting}.
function renderCounter(col, data) {
  if (!data || typeof data !== "object" || !Array.isArray(data.next)) throw new TypeError("not a counter's board");
  const name = typeof data.name === "string" && data.name.trim() ? data.name.trim() : col.id;
  if (name !== col.name) {
    col.name = name;
    col.nameEl.textContent = name;
    col.el.setAttribute("aria-label", name);
  }
  const calling = typeof data.calling === "string" && data.calling ? data.calling : null;
  col.view = { waiting: Number.isInteger(data.waiting) ? data.waiting : 0 };
  paint(col);
  col.token.textContent = calling ?? "—";
  col.token.classList.toggle("is-empty", calling == null);
  col.token.classList.toggle("is-long", calling != null && calling.length > 5);
  col.calling.classList.toggle("is-calling", calling != null);
  showNext(col, data.next.slice(0, 5));
  return markFresh(col, calling == null ? null : `${data.date}#${calling}`) ? calling : null;
}

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

  // The slot's time in words, as a catalog key and its values (painted in the language shown).
  let when = null;
  if (onLeave) when = null;
  else if (unknown) when = { key: "board.unknown" };
  else if (!slot) when = { key: "board.noSessions" };
  else if (Date.parse(slot.start) > now) when = { key: "board.nextSession", time: range(slot) };
  else if (Date.parse(slot.end) + (slot.delayMinutes || 0) * 60000 <= now && slot.calling == null) {
    when = { key: "board.ended", time: range(slot) };
  } else when = { time: range(slot) };

  const delayed = !!slot?.delayed && !onLeave;
  col.delay.hidden = !delayed;

  const calling = onLeave ? null : (slot?.calling ?? null);
  col.view = { when, delayMinutes: slot?.delayMinutes || 0, waiting: onLeave ? 0 : slot?.waiting || 0 };
  paint(col);
  col.token.textContent = calling == null ? "—" : String(calling);
  col.token.classList.toggle("is-empty", calling == null);
  col.calling.classList.toggle("is-calling", calling != null);

  showNext(col, onLeave ? [] : (slot?.next || []).slice(0, 5));

  // A new call: a token being called that was not being called at the last successful poll.
  return markFresh(col, calling == null ? null : `${slot.slotId}#${calling}`) ? calling : null;
}

// A column's words in the language shown (again at each change of language).
function paint(col) {
  const v = col.view;
  if (col.kind === "counter") {
    if (v) col.waiting.textContent = v.waiting === 0 ? t("board.noneWaiting") : tn("board.waiting", v.waiting);
  } else if (v) {
    const when = v.when;
    col.time.textContent = !when ? "" : when.key ? t(when.key, { id: col.id, time: when.time }) : when.time;
    col.delay.textContent = v.delayMinutes > 0 ? t("board.late", { minutes: v.delayMinutes }) : t("board.lateUnknown");
    col.waiting.textContent = v.waiting === 0 ? t("board.noneWaiting") : tn("board.waiting", v.waiting);
  }
  if (col.roomEl) col.roomEl.textContent = col.room ? t("board.room", { room: col.room }) : "";
  if (col.why) {
    const why = col.why.network
      ? t("board.connectionLost")
      : col.why.status
        ? t(col.kind === "counter" ? "board.counterNoAnswer" : "board.noAnswer", { status: col.why.status })
        : t("board.unreadable");
    col.stale.textContent = col.lastOk ? t("board.staleSince", { why, time: hhmmss(col.lastOk) }) : t("board.stale", { why });
  }
}

// The footer: all updated, or how many are not.
let connState = null; // {failed} of the last poll
function paintConn() {
  const conn = $("conn");
  if (!connState) {
    conn.textContent = t("board.connecting");
    return;
  }
  const last = lastAllOk ? t("board.updated", { time: hhmmss(lastAllOk) }) : "";
  if (connState.failed === 0) conn.textContent = last;
  else {
    const lost =
      connState.failed === columns.length
        ? t("board.lost")
        : t("board.someLost", { failed: connState.failed, total: columns.length });
    conn.textContent = last ? `${lost} ${last}` : lost;
  }
}

// The page's labels in the language shown, then every column's words.
function paintAll() {
  translatePage();
  if (shownDate) $("board-date").textContent = dateWords(new Date(`${shownDate}T12:00:00`));
  columns.forEach(paint);
  paintConn();
}

// ?lang=hi,en: each language in turn, langEvery apart.
let langIndex = 0;
async function rotate() {
  if (languages.length < 2) return;
  setTimeout(rotate, langEvery);
  langIndex = (langIndex + 1) % languages.length;
  await useLanguage(languages[langIndex]);
  paintAll();
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
    $("board-date").textContent = dateWords(new Date(`${date}T12:00:00`));
    columns.forEach((c) => (c.lastCallKey = undefined));
  }
  const results = await Promise.allSettled(
    columns.map((c) => api.get(c.url + `?date=${encodeURIComponent(date)}`)),
  );
  const now = Date.now();
  const called = [];
  let failed = 0;
  results.forEach((r, i) => {
    const col = columns[i];
    let reason = r.reason;
    if (r.status === "fulfilled") {
      try {
        const token = col.kind === "counter" ? renderCounter(col, r.value) : render(col, r.value, now);
        if (token != null) called.push({ col, token });
        col.lastOk = new Date(now);
        col.why = null;
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
    col.why = reason?.network ? { network: true } : reason?.status ? { status: reason.status } : { unreadable: true };
    paint(col);
  });
  if (called.length) announce(called);
  if (failed === 0) lastAllOk = new Date(now);
  connState = { failed };
  $("conn").dataset.state = failed === 0 ? "ok" : "lost";
  paintConn();
}

// A new call, in every language of the board: to screen readers (one part per language, with its lang), and
// spoken, each call in each language in turn.
function announce(called) {
  $("announce").replaceChildren(
    ...languages.flatMap((code, i) => {
      const part = document.createElement("span");
      part.lang = code;
      part.textContent = called
        .map(({ col, token }) =>
          col.kind === "counter"
            ? t("board.counter.announce", { counter: col.name, label: token }, code)
            : t("board.announce", { doctor: col.name, token }, code),
        )
        .join(". ");
      return i === 0 ? [part] : [" ", part];
    }),
  );
  for (const { col, token } of called) {
    for (const code of languages) {
      if (col.kind === "counter") {
        // "R-7" is said "R 7": a voice would read the hyphen as "minus".
        say(t("board.counter.say", { label: String(token).replace(/-/g, " "), counter: col.name }, code), code);
        continue;
      }
      const values = { token, room: col.room, doctor: col.name };
      say(t(col.room ? "board.say.room" : "board.say.noRoom", values, code), code);
    }
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
  await loadLanguages(languages);
  await useLanguage(languages[0]);
  paintAll();
  if (!columns.length) {
    $("board-empty").textContent = "No doctors or counters chosen: open this page as board.html?doctors=dr-1,dr-2&counters=reg-1";
    $("conn").textContent = "";
    return;
  }
  const cfg = await loadConfig();
  api = createClient({ base: resolveApiBase({ configBase: cfg.apiBase }), timeoutMs: 4000 });
  if (counters.length) board.dataset.i18nLabel = "board.doctorsAndCounters"; // the columns' landmark names both
  layout();
  window.addEventListener("resize", layout);
  board.replaceChildren(...columns.map((c) => c.el));
  paintAll(); // the columns' labels, now in the page
  setUpSoundButton();
  if (canSpeak) {
    noteVoices();
    try {
      window.speechSynthesis.addEventListener?.("voiceschanged", noteVoices);
    } catch {
      /* an old engine without events: the note is as it was first */
    }
  }
  setTimeout(rotate, langEvery);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) tick();
  });
  tick();
}

main();
