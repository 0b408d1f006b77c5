// The status page (status.html#<code>): one booking's Status (GET /status/{code}, public), large, kept current,
// in the patient's language (the switch's choice on this device, else the browser's: en, hi or ta).
//
// The code is read from the address's #fragment only and kept nowhere else (no storage, no cookie): whoever
// has the link sees the booking, nobody else. Only the language choice is stored (localStorage "opd.lang").
// The code is read again every POLL_MS (and at once when the page is shown again), so "Now calling" and the
// patient's own call appear within 10 s.
//
// Hooks for browser tests: #lang-switch button[data-lang][aria-pressed], #message (role=status), #card, #token,
// #state, #doctor, #time, #notice, #position, #estimate, #calling, #updated; body[data-status] is the booking's
// status.
import { ApiError, createClient, loadConfig, path, resolveApiBase } from "./api.js";
import { chosenLanguage, languageSwitch, t, translatePage, useLanguage } from "./i18n.js";
import { $, dayWords, doctorWords, errorWords, hhmm, positionWords, statusWords, when } from "./ui.js";

const POLL_MS = 5000;
const CODE = /^[A-Za-z0-9_-]{8,128}$/;

let api;
let timer = null;
let lastStatus = null;
// What the page shows, kept to write it again in another language: the last Status, or why there is none;
// and the last refresh (its time, or its failure).
let shown = { kind: "loading" };
let updated = null;

function codeFromAddress() {
  const raw = location.hash.replace(/^#/, "");
  try {
    const code = decodeURIComponent(raw).trim();
    return CODE.test(code) ? code : null;
  } catch {
    return null;
  }
}

function show(id, text) {
  const node = $(id);
  node.textContent = text || "";
  node.hidden = !text;
}

// The Status in words; `announce`: the message (role=status) says the state again (a change, or a new language).
function render(s, announce) {
  const doctor = doctorWords(s.doctorName, s.room);
  $("card").hidden = false;
  $("token").textContent = s.token == null ? "–" : String(s.token);
  $("state").textContent = statusWords(s, doctor);
  $("doctor").textContent = doctor;
  $("time").textContent = `${dayWords(s.start)}, ${hhmm(s.start)}–${hhmm(s.end)}`;
  const active = ["BOOKED", "CHECKED_IN", "CALLED", "WAITLISTED"].includes(s.status);
  let notice = "";
  if (s.closed && active) notice = t("status.notice.closed");
  else if (s.delayed && active) notice = t("status.notice.late", { minutes: s.delayMinutes });
  show("notice", notice);
  show("position", positionWords(s.position, s.status));
  show("estimate", s.estimatedCallAt && s.status !== "CALLED" ? t("common.expected", { time: when(s.estimatedCallAt) }) : "");
  show("calling", active && s.status !== "CALLED" && s.calling != null ? t("status.nowCalling", { token: s.calling }) : "");
  document.body.dataset.status = s.status;
  // Said once when it changes (role=status): a screen reader hears the turn without watching the page.
  if (announce || s.status !== lastStatus) {
    $("message").textContent =
      s.status === "CALLED" ? t("status.calledMessage", { token: s.token, state: $("state").textContent }) : $("state").textContent;
  }
  lastStatus = s.status;
}

function paint(announce = false) {
  if (shown.kind === "status") render(shown.status, announce);
  else {
    if (shown.kind === "incomplete") $("message").textContent = t("status.incomplete");
    else if (shown.kind === "unknown") $("message").textContent = t("status.unknown");
    else $("message").textContent = t("common.loading");
  }
  if (updated?.at) $("updated").textContent = t("status.updated", { time: hhmm(updated.at) });
  else if (updated?.error) $("updated").textContent = t("status.notUpdated", { why: errorWords(updated.error) });
  else $("updated").textContent = "";
}

async function refresh() {
  clearTimeout(timer);
  const code = codeFromAddress();
  if (!code) {
    shown = { kind: "incomplete" };
    $("card").hidden = true;
    paint();
    return;
  }
  try {
    shown = { kind: "status", status: await api.get(path`/status/${code}`) };
    updated = { at: new Date().toISOString() };
    paint();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 400)) {
      shown = { kind: "unknown" };
      $("card").hidden = true;
      paint();
      return; // nothing to keep polling for
    }
    updated = { error: err };
    paint();
  }
  if (!document.hidden) timer = setTimeout(refresh, POLL_MS);
}

async function main() {
  await useLanguage(chosenLanguage());
  translatePage();
  paint();
  languageSwitch($("lang-switch"), () => {
    translatePage();
    paint(true);
  });
  const cfg = await loadConfig();
  // No ?api= to another host: the code would go there.
  api = createClient({ base: resolveApiBase({ configBase: cfg.apiBase, allowForeignParam: false }), timeoutMs: 8000 });
  addEventListener("hashchange", () => {
    lastStatus = null;
    updated = null;
    refresh();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
    else clearTimeout(timer);
  });
  await refresh();
}

main();
