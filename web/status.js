// The status page (status.html#<code>): one booking's Status (GET /status/{code}, public), large, kept current.
//
// The code is read from the address's #fragment only and kept nowhere else (no storage, no cookie): whoever
// has the link sees the booking, nobody else. It is read again every POLL_MS (and at once when the page is
// shown again), so "Now calling" and the patient's own call appear within 10 s.
//
// Hooks for browser tests: #message (role=status), #card, #token, #state, #doctor, #time, #notice,
// #position, #estimate, #calling, #updated; body[data-status] is the booking's status.
import { ApiError, createClient, describeError, loadConfig, path, resolveApiBase } from "./api.js";
import { $, dayWords, doctorWords, hhmm, positionWords, statusWords, when } from "./ui.js";

const POLL_MS = 5000;
const CODE = /^[A-Za-z0-9_-]{8,128}$/;

let api;
let timer = null;
let lastStatus = null;

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

function render(s) {
  const doctor = doctorWords(s.doctorName, s.room);
  $("card").hidden = false;
  $("token").textContent = s.token == null ? "–" : String(s.token);
  $("state").textContent = statusWords(s, doctor);
  $("doctor").textContent = doctor;
  $("time").textContent = `${dayWords(s.start)}, ${hhmm(s.start)}–${hhmm(s.end)}`;
  const active = ["BOOKED", "CHECKED_IN", "CALLED", "WAITLISTED"].includes(s.status);
  let notice = "";
  if (s.closed && active) notice = "The doctor is not available that day.";
  else if (s.delayed && active) notice = `The doctor is running about ${s.delayMinutes} min late.`;
  show("notice", notice);
  show("position", positionWords(s.position, s.status));
  show("estimate", s.estimatedCallAt && s.status !== "CALLED" ? `Expected call about ${when(s.estimatedCallAt)}` : "");
  show("calling", active && s.status !== "CALLED" && s.calling != null ? `Now calling ${s.calling}` : "");
  document.body.dataset.status = s.status;
  // Said once when it changes (role=status): a screen reader hears the turn without watching the page.
  $("message").textContent = s.status !== lastStatus ? $("state").textContent : $("message").textContent;
  if (s.status === "CALLED" && lastStatus !== "CALLED") $("message").textContent = `Token ${s.token}: ${$("state").textContent}`;
  lastStatus = s.status;
}

async function refresh() {
  clearTimeout(timer);
  const code = codeFromAddress();
  if (!code) {
    $("card").hidden = true;
    $("message").textContent = "This link is not complete: open the whole link from your SMS.";
    return;
  }
  try {
    render(await api.get(path`/status/${code}`));
    $("updated").textContent = `Updated ${hhmm(new Date().toISOString())}`;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 400)) {
      $("card").hidden = true;
      $("message").textContent = "No booking has this link. Please check the link in your SMS.";
      return; // nothing to keep polling for
    }
    $("updated").textContent = `Could not update (${describeError(err).text}); retrying…`;
  }
  if (!document.hidden) timer = setTimeout(refresh, POLL_MS);
}

async function main() {
  const cfg = await loadConfig();
  // No ?api= to another host: the code would go there.
  api = createClient({ base: resolveApiBase({ configBase: cfg.apiBase, allowForeignParam: false }), timeoutMs: 8000 });
  addEventListener("hashchange", () => {
    lastStatus = null;
    refresh();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh();
    else clearTimeout(timer);
  });
  await refresh();
}

main();
