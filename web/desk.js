// The reception desk console (desk.html), against shared/api-contract.md version 2.
//
// Hooks for browser tests (stable ids and attributes):
//   sign-in       #signin-role (reception|admin), #signin-user, #signin (submit); deployed:
//                 #signin-cognito; #signout; #whoami ("desk-1 (reception)"); body[data-role]
//   day           #doctor, #day (YYYY-MM-DD), #load-day; #slots table, #slots-caption
//   slots         tr[data-slot-id] (also data-closed, data-delayed, aria-current="true" when
//                 selected) each with button[data-action=select] ("Select", pressed when selected)
//   slot panel    #slot-panel, #slot-heading, #slot-summary, #call-next, #refresh, #refresh-state
//   book          #book-patient, #book-source (ONLINE|WALKIN|PAID|FOLLOWUP|EMERGENCY),
//                 #book-waitlist, #book-phone, #book (submit)
//   queue         #queue tbody tr[data-booking-row=<bookingId>][data-token][data-status]
//   waitlist      #waitlist tbody tr[data-booking-row][data-status=WAITLISTED][data-waitlist-position]
//   row actions   button[data-action=<a>][data-booking-id=<bookingId>], a in check-in, skip, complete,
//                 no-show, cancel, reschedule; only the moves the booking's state allows are shown;
//                 accessible names such as "Check in token 7"
//   reschedule    #reschedule-dialog, #reschedule-slot (select of the day's other slots),
//                 #reschedule-confirm, #reschedule-cancel
//   delay (admin) #delay-minutes, #set-delay, #clear-delay
//   sessions      #sessions-from, #sessions-to, #sessions-mon … #sessions-sun (checkboxes),
//   (admin)       #sessions-start, #sessions-end (HH:MM), #sessions-slot-minutes, #sessions-base,
//                 #sessions-premium, #sessions-emergency, #sessions-submit
//   leave (admin) #leave-date, #leave-reason, #leave-submit
//   feedback      #messages (role=alert: the last error, with VALIDATION_ERROR details as
//                 li[data-field]), #status (role=status: the last success, in words),
//                 #log (the last 12 messages, newest first)
//   admin-only    [data-admin-only] elements are hidden unless the role is admin (display only)
// Shortcuts: Alt+Shift+D doctor id, Alt+Shift+B patient id (book), Alt+Shift+N call next.
//
// Fetches: GET /doctors/{id}/slots?date= on "Show slots", after every action and every 15 s;
// GET /slots/{id}/queue and /waitlist on select, after every action and every 5 s (paused while
// typing, while a dialog is open, while an action runs, and while the tab is hidden).
import { ApiError, createClient, describeError, loadConfig, path, resolveApiBase } from "./api.js";
import * as auth from "./auth.js";

const REFRESH_MS = 5000;
const SLOTS_EVERY = 3; // the slot list every 3rd refresh
const TYPING_PAUSE_MS = 10000;
const LOG_SIZE = 12;

const $ = (id) => document.getElementById(id);
const pad = (n) => String(n).padStart(2, "0");
const todayStr = (d = new Date()) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const hhmm = (iso) => {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
const hhmmss = (d = new Date()) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
const range = (slot) => `${hhmm(slot.start)}–${hhmm(slot.end)}`;
const TIERS = ["STANDARD", "PREMIUM", "CRITICAL"];
const TIER_OF = { ONLINE: "STANDARD", WALKIN: "STANDARD", PAID: "PREMIUM", FOLLOWUP: "PREMIUM", EMERGENCY: "CRITICAL" };
const STATUS_WORDS = {
  WAITLISTED: "Waitlisted",
  BOOKED: "Booked",
  CHECKED_IN: "Checked in",
  CALLED: "Called (in the room)",
  COMPLETED: "Completed",
  CANCELLED: "Cancelled",
  NO_SHOW: "No-show",
};
// The moves the contract allows from each state (others would be 409 INVALID_TRANSITION).
const ACTIONS = {
  WAITLISTED: ["cancel"],
  BOOKED: ["check-in", "reschedule", "no-show", "cancel"],
  CHECKED_IN: ["complete", "cancel"],
  CALLED: ["complete", "skip"],
};
const ACTION_LABEL = {
  "check-in": "Check in",
  complete: "Complete",
  skip: "Skip",
  "no-show": "No-show",
  cancel: "Cancel",
  reschedule: "Reschedule",
};

// crypto.randomUUID needs a secure context; a desk on plain http over a LAN still gets a key.
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function el(tag, props = {}, ...children) {
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

// ---- state ----------------------------------------------------------------------------------
const state = {
  cfg: null,
  session: null,
  doctor: "",
  day: "",
  slots: [],
  slotId: null,
  queue: [],
  waitlist: [],
  waitlistError: null, // words for a waitlist that could not be read
  busy: 0,
  ticks: 0,
  lastTyped: 0,
  pendingBook: null, // {json, key}: the Idempotency-Key of a booking not yet answered for sure
};
let api;

// ---- feedback -------------------------------------------------------------------------------
function log(kind, text) {
  const list = $("log");
  const first = list.firstElementChild;
  if (first && first.dataset.text === text) {
    const n = Number(first.dataset.count) + 1;
    first.dataset.count = String(n);
    first.lastChild.textContent = ` ${text} (×${n})`;
    first.firstChild.textContent = hhmmss();
  } else {
    list.prepend(el("li", { dataset: { kind, text, count: "1" } }, el("time", {}, hhmmss()), ` ${text}`));
    while (list.children.length > LOG_SIZE) list.lastElementChild.remove();
  }
  $("log-count").textContent = String(list.children.length);
}

function ok(text) {
  $("messages").replaceChildren();
  $("status").textContent = text;
  log("ok", text);
}

// Shows an error in words; marks the form fields VALIDATION_ERROR names.
function fail(err, { prefix = "", fields = {} } = {}) {
  if (err instanceof ApiError && err.status === 401) signedOut();
  const { text, details } = describeError(err);
  let full = prefix ? `${prefix}: ${text}` : text;
  if (err?.resendSafe) full += ". Press Book again to retry: it will not book twice";
  const box = $("messages");
  const children = [el("p", {}, full)];
  if (details.length) {
    children.push(
      el(
        "ul",
        {},
        ...details.map((d) => el("li", { dataset: { field: d.field } }, d.field ? `${d.field}: ${d.message}` : d.message)),
      ),
    );
    let focused = false;
    for (const d of details) {
      const input = fields[d.field.split(".")[0]];
      if (!input) continue;
      input.setAttribute("aria-invalid", "true");
      if (!focused) {
        input.focus();
        focused = true;
      }
    }
  }
  box.replaceChildren(...children);
  $("status").textContent = "";
  log("error", full + (details.length ? ` (${details.map((d) => `${d.field}: ${d.message}`).join("; ")})` : ""));
}

function clearInvalid(form) {
  form.querySelectorAll("[aria-invalid]").forEach((i) => i.removeAttribute("aria-invalid"));
}

// The browser's own checks (required, pattern, min/max), reported in the alert area in words.
function checkForm(form) {
  clearInvalid(form);
  const bad = [...form.elements].filter((i) => i.willValidate && !i.validity.valid);
  if (!bad.length) return true;
  const label = (i) => form.querySelector(`label[for="${i.id}"]`)?.textContent.trim() || i.name;
  const details = bad.map((i) => ({
    field: label(i),
    message: i.validity.patternMismatch && i.dataset.hint ? i.dataset.hint : i.validationMessage,
  }));
  bad.forEach((i) => i.setAttribute("aria-invalid", "true"));
  bad[0].focus();
  fail(new ApiError({ status: 400, code: "VALIDATION_ERROR", message: "Please correct the form", details }));
  return false;
}

// Runs one action: marks its button busy (aria-disabled, not disabled, so keyboard focus stays
// on it), pauses auto-refresh, reports failures.
async function run(button, fn, opts) {
  if (button?.getAttribute("aria-disabled") === "true") return;
  state.busy += 1;
  button?.setAttribute("aria-disabled", "true");
  try {
    await fn();
  } catch (err) {
    fail(err, opts);
  } finally {
    state.busy -= 1;
    button?.removeAttribute("aria-disabled");
  }
}

// ---- sign-in --------------------------------------------------------------------------------
function showSignedIn() {
  const s = state.session;
  const signedIn = !!s;
  $("signin-section").hidden = signedIn;
  $("main").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  $("whoami").textContent = signedIn ? `${s.user} (${s.role})` : "Not signed in";
  document.body.dataset.role = signedIn ? s.role : "";
  document.querySelectorAll("[data-admin-only]").forEach((e) => (e.hidden = s?.role !== "admin"));
  const cognito = !!state.cfg.cognitoDomain;
  $("signin-form").hidden = cognito;
  $("signin-cognito-box").hidden = !cognito;
}

function signedOut() {
  auth.signOut();
  state.session = null;
  showSignedIn();
}

async function signInLocal(e) {
  e.preventDefault();
  const form = e.currentTarget;
  if (!checkForm(form)) return;
  await run($("signin"), async () => {
    const role = $("signin-role").value;
    const user = $("signin-user").value.trim();
    state.session = await auth.signInLocal(api, role, user);
    showSignedIn();
    ok(`Signed in as ${user} (${role})`);
    afterSignIn();
  }, { prefix: "Sign-in failed" });
}

function afterSignIn() {
  if ($("doctor").value.trim()) loadDay();
  else $("doctor").focus();
}

function signOutClick() {
  signedOut();
  ok("Signed out");
  if (state.cfg.cognitoDomain) location.assign(auth.cognitoLogoutUrl(state.cfg));
  else $("signin-user").focus();
}

// ---- the day's slots ------------------------------------------------------------------------
function saveUrl() {
  const q = new URLSearchParams(location.search);
  q.set("doctor", state.doctor);
  q.set("date", state.day);
  if (state.slotId) q.set("slot", state.slotId);
  else q.delete("slot");
  history.replaceState(null, "", `${location.pathname}?${q}`);
  try {
    localStorage.setItem("opd.desk.doctor", state.doctor);
  } catch {
    /* private mode */
  }
}

async function loadDay(e) {
  e?.preventDefault();
  if (!checkForm($("day-form"))) return;
  const doctor = $("doctor").value.trim();
  const day = $("day").value || todayStr();
  if (doctor !== state.doctor || day !== state.day) {
    state.slotId = e ? null : state.slotId; // keep ?slot= on the first load only
  }
  state.doctor = doctor;
  state.day = day;
  $("leave-date").value ||= day;
  $("sessions-from").value ||= day;
  $("sessions-to").value ||= day;
  await run($("load-day"), async () => {
    await fetchSlots();
    saveUrl();
    if (state.slotId && state.slots.some((s) => s.slotId === state.slotId)) await selectSlot(state.slotId, false);
    else {
      state.slotId = null;
      renderPanel();
    }
    ok(`${state.slots.length} slot${state.slots.length === 1 ? "" : "s"} of ${doctor} on ${day}`);
  }, { prefix: "Could not load the slots" });
}

async function fetchSlots() {
  const data = await api.get(path`/doctors/${state.doctor}/slots` + `?date=${encodeURIComponent(state.day)}`);
  state.slots = Array.isArray(data?.slots) ? data.slots : [];
  renderSlots();
}

function places(slot, tier) {
  const free = slot.available?.[tier];
  const limit = slot.limits?.[tier];
  return el("td", { "data-tier": tier, title: `${tier}: ${free} free of ${limit}` }, `${free ?? "?"}/${limit ?? "?"}`);
}

function badges(slot) {
  const out = [];
  if (slot.closed) out.push(el("span", { className: "badge badge-closed" }, "Closed"));
  if (slot.delayed) out.push(el("span", { className: "badge badge-delayed" }, slot.delayMinutes ? `Delayed ${slot.delayMinutes} min` : "Delayed"));
  if (!slot.closed && Date.parse(slot.end) < Date.now()) out.push(el("span", { className: "badge" }, "Ended"));
  return out;
}

function renderSlots() {
  const focus = rememberFocus();
  $("slots-caption").textContent = state.slots.length
    ? `Slots of ${state.doctor} on ${state.day}`
    : `No slots for ${state.doctor} on ${state.day}`;
  $("slots-body").replaceChildren(
    ...state.slots.map((s) => {
      const selected = s.slotId === state.slotId;
      return el(
        "tr",
        {
          dataset: { slotId: s.slotId, closed: String(!!s.closed), delayed: String(!!s.delayed) },
          "aria-current": selected ? "true" : null,
        },
        el("th", { scope: "row" }, el("span", { className: "time" }, range(s)), " ", ...badges(s)),
        ...TIERS.map((t) => places(s, t)),
        el("td", {}, String(s.booked ?? "")),
        el("td", {}, String(s.waitlisted ?? "")),
        el(
          "td",
          {},
          el(
            "button",
            { type: "button", dataset: { action: "select" }, "aria-pressed": String(selected), "aria-label": `Select slot ${range(s)}` },
            "Select",
          ),
        ),
      );
    }),
  );
  document.querySelectorAll(".admin-doctor").forEach((e) => (e.textContent = state.doctor || "the doctor"));
  restoreFocus(focus, $("slots"));
  renderSummary();
}

// ---- the selected slot ----------------------------------------------------------------------
const selectedSlot = () => state.slots.find((s) => s.slotId === state.slotId) || null;

async function selectSlot(slotId, moveFocus = true) {
  state.slotId = slotId;
  state.queue = [];
  state.waitlist = [];
  renderSlots();
  renderPanel();
  saveUrl();
  if (moveFocus) $("slot-heading").focus();
  await fetchQueue();
}

async function fetchQueue() {
  const id = state.slotId;
  if (!id) return;
  // The queue is what the desk works from: a waitlist that cannot be read is said, and must not hide it.
  const [q, w] = await Promise.allSettled([api.get(path`/slots/${id}/queue`), api.get(path`/slots/${id}/waitlist`)]);
  if (id !== state.slotId) return; // another slot was chosen meanwhile
  if (q.status === "rejected") throw q.reason;
  if (w.status === "rejected" && w.reason?.status === 401) throw w.reason;
  state.queue = Array.isArray(q.value?.queue) ? q.value.queue : [];
  state.waitlist = w.status === "fulfilled" && Array.isArray(w.value?.waitlist) ? w.value.waitlist : [];
  state.waitlistError = w.status === "rejected" ? describeError(w.reason).text : null;
  renderQueue();
  $("refresh-state").textContent = `Updated ${hhmmss()}`;
}

function renderSummary() {
  const s = selectedSlot();
  if (!s) return;
  $("slot-heading").textContent = `Slot ${range(s)}`;
  const parts = [
    `${s.booked} booked`,
    `${s.waitlisted} waitlisted`,
    `free: standard ${s.available?.STANDARD}, premium ${s.available?.PREMIUM}, critical ${s.available?.CRITICAL}`,
  ];
  if (s.delayed) parts.push(s.delayMinutes ? `running ${s.delayMinutes} min late` : "running late");
  if (s.closed) parts.push("closed (doctor on leave)");
  $("slot-summary").textContent = parts.join(" · ");
  if (document.activeElement !== $("delay-minutes")) $("delay-minutes").value = s.delayed ? String(s.delayMinutes || 0) : "";
}

function renderPanel() {
  const has = !!selectedSlot();
  $("slot-panel").hidden = !has;
  if (has) {
    renderSummary();
    renderQueue();
  }
}

function actionButtons(b) {
  const who = b.token != null ? `token ${b.token}` : `waitlisted ${b.patientId}`;
  return (ACTIONS[b.status] || []).map((a) =>
    el(
      "button",
      {
        type: "button",
        className: a === "cancel" || a === "no-show" ? "secondary danger-text" : a === "check-in" ? "" : "secondary",
        dataset: { action: a, bookingId: b.bookingId },
        "aria-label": `${ACTION_LABEL[a]} ${who}`,
      },
      ACTION_LABEL[a],
    ),
  );
}

function source(b) {
  return el("td", {}, b.source || "", el("span", { className: "tier" }, ` ${b.tier || TIER_OF[b.source] || ""}`));
}

function renderQueue() {
  const focus = rememberFocus();
  const q = state.queue;
  $("queue-body").replaceChildren(
    ...(q.length
      ? q.map((b) =>
          el(
            "tr",
            {
              dataset: { bookingRow: b.bookingId, token: String(b.token ?? ""), status: b.status },
              className: `status-${String(b.status).toLowerCase()}`,
            },
            el("th", { scope: "row", className: "token" }, String(b.token ?? "–")),
            el("td", { className: "patient" }, b.patientId || ""),
            source(b),
            el("td", { className: "status" }, STATUS_WORDS[b.status] || b.status, b.skips ? el("span", { className: "hint" }, ` skipped ${b.skips}×`) : null),
            el("td", {}, b.position == null ? "" : String(b.position)),
            el("td", {}, hhmm(b.estimatedCallAt)),
            el("td", {}, el("div", { className: "actions" }, ...actionButtons(b))),
          ),
        )
      : [el("tr", {}, el("td", { colspan: 7, className: "empty" }, "No one in the queue"))]),
  );
  const w = state.waitlist;
  $("waitlist-body").replaceChildren(
    ...(w.length
      ? w.map((b) =>
          el(
            "tr",
            { dataset: { bookingRow: b.bookingId, status: b.status, waitlistPosition: String(b.waitlistPosition ?? "") } },
            el("th", { scope: "row" }, String(b.waitlistPosition ?? "")),
            el("td", { className: "patient" }, b.patientId || ""),
            source(b),
            el("td", {}, el("div", { className: "actions" }, ...actionButtons(b))),
          ),
        )
      : [el("tr", {}, el("td", { colspan: 4, className: "empty" }, state.waitlistError ? `Waitlist not shown: ${state.waitlistError}` : "No one waitlisted"))]),
  );
  restoreFocus(focus, $("queue"));
}

// Re-rendering a table must not drop keyboard focus on the floor.
// (the same button, else the first button of the same booking's row, else the table).
function rememberFocus() {
  const a = document.activeElement;
  if (!a || a === document.body || !a.dataset?.action) return null;
  if (a.dataset.bookingId) {
    const id = CSS.escape(a.dataset.bookingId);
    return [`button[data-action="${CSS.escape(a.dataset.action)}"][data-booking-id="${id}"]`, `button[data-booking-id="${id}"]`];
  }
  const row = a.closest("tr[data-slot-id]");
  return row ? [`tr[data-slot-id="${CSS.escape(row.dataset.slotId)}"] button`] : null;
}

function restoreFocus(selectors, fallback) {
  if (!selectors || (document.activeElement && document.activeElement !== document.body)) return;
  const target = selectors.map((s) => document.querySelector(s)).find(Boolean);
  (target || fallback).focus();
}

// ---- actions --------------------------------------------------------------------------------
async function refreshAll() {
  await fetchSlots();
  if (state.slotId) await fetchQueue();
}

const findBooking = (id) => [...state.queue, ...state.waitlist].find((b) => b.bookingId === id);

function nameOf(b) {
  return b.token != null ? `Token ${b.token}` : `Waitlisted booking of ${b.patientId}`;
}

async function bookingAction(button) {
  const action = button.dataset.action;
  const id = button.dataset.bookingId;
  const b = findBooking(id) || { bookingId: id, token: null, patientId: id };
  if (action === "reschedule") return openReschedule(b, button);
  await run(button, async () => {
    let res;
    try {
      res = await api.post(path`/bookings/${id}/${action}`);
    } finally {
      await refreshAll().catch(() => {});
    }
    const name = nameOf(b);
    const words = {
      "check-in": `${name} checked in`,
      complete: `${name} completed`,
      "no-show": `${name} marked no-show`,
      cancel: `${name} cancelled`,
      skip:
        res?.status === "NO_SHOW"
          ? `${name} skipped a third time: marked no-show`
          : `${name} skipped: back in the queue${res?.position != null ? ` with ${res.position} ahead` : ""}`,
    };
    ok(words[action] || `${name}: ${action} done`);
  }, { prefix: `${ACTION_LABEL[action]} ${b.token != null ? `token ${b.token}` : ""}`.trim() });
}

async function callNext() {
  const slot = selectedSlot();
  if (!slot) return;
  await run($("call-next"), async () => {
    let res;
    try {
      res = await api.post(path`/slots/${slot.slotId}/call-next`);
    } finally {
      await refreshAll().catch(() => {});
    }
    const parts = [];
    if (res?.completed) parts.push(`Completed token ${res.completed.token}`);
    parts.push(res?.called ? `Called token ${res.called.token}` : "No one checked in to call");
    ok(parts.join(". "));
  }, { prefix: "Call next" });
}

async function book(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const slot = selectedSlot();
  if (!slot || !checkForm(form)) return;
  const body = { slotId: slot.slotId, patientId: $("book-patient").value.trim(), source: $("book-source").value };
  if ($("book-waitlist").checked) body.waitlist = true;
  const phone = $("book-phone").value.trim();
  if (phone) body.phone = phone;
  // The same form sent again after no sure answer reuses its key: never a second booking.
  const json = JSON.stringify(body);
  if (state.pendingBook?.json !== json) state.pendingBook = { json, key: uuid() };
  const key = state.pendingBook.key;
  await run($("book"), async () => {
    let b;
    try {
      b = await api.post("/bookings", body, { headers: { "Idempotency-Key": key } });
      state.pendingBook = null;
    } catch (err) {
      // No sure answer (network, 5xx, busy, the first try still in flight): keep the key.
      const unsure = err instanceof ApiError && (err.network || err.status >= 500 || err.status === 429 || err.code === "IDEMPOTENCY_CONFLICT");
      if (unsure) err.resendSafe = true;
      else state.pendingBook = null;
      throw err;
    } finally {
      await refreshAll().catch(() => {});
    }
    const fields = form.querySelectorAll("#book-patient, #book-phone");
    fields.forEach((i) => (i.value = ""));
    $("book-waitlist").checked = false;
    ok(
      b?.status === "WAITLISTED"
        ? `${b.patientId} waitlisted for ${range(slot)} at position ${b.waitlistPosition}`
        : `Token ${b?.token} booked for ${b?.patientId} (${b?.tier || TIER_OF[body.source]}) in ${range(slot)}`,
    );
    $("book-patient").focus();
  }, {
    prefix: "Booking failed",
    fields: { patientId: $("book-patient"), source: $("book-source"), phone: $("book-phone"), waitlist: $("book-waitlist") },
  });
}

// Reschedule: a native modal dialog listing the day's other slots.
let rescheduling = null;
function openReschedule(b, button) {
  const tier = b.tier || TIER_OF[b.source] || "STANDARD";
  const targets = state.slots.filter((s) => s.slotId !== b.slotId && !s.closed && Date.parse(s.end) > Date.now());
  if (!targets.length) {
    fail(new Error(`No other open slot on ${state.day} to move token ${b.token} to`));
    return;
  }
  rescheduling = { b, button };
  $("reschedule-heading").textContent = `Reschedule token ${b.token} (${b.patientId})`;
  $("reschedule-slot").replaceChildren(
    ...targets.map((s) => el("option", { value: s.slotId }, `${range(s)} · ${s.available?.[tier] ?? "?"} ${tier.toLowerCase()} free`)),
  );
  $("reschedule-dialog").showModal();
  $("reschedule-slot").focus();
}

async function confirmReschedule(e) {
  e.preventDefault();
  const r = rescheduling;
  const target = $("reschedule-slot").value;
  $("reschedule-dialog").close();
  if (!r || !target) return;
  rescheduling = null;
  const to = state.slots.find((s) => s.slotId === target);
  await run(r.button, async () => {
    let nb;
    try {
      nb = await api.post(path`/bookings/${r.b.bookingId}/reschedule`, { slotId: target });
    } finally {
      await refreshAll().catch(() => {});
    }
    ok(`Token ${r.b.token} moved to ${to ? range(to) : "the new slot"}${nb?.token != null ? ` as token ${nb.token}` : ""}`);
  }, { prefix: `Reschedule token ${r.b.token}` });
}

async function setDelay(e) {
  e?.preventDefault();
  const slot = selectedSlot();
  if (!slot || !checkForm($("delay-form"))) return;
  const minutes = $("delay-minutes").value.trim();
  const body = { delayed: true };
  if (minutes !== "") body.minutes = Number(minutes);
  await run($("set-delay"), async () => {
    let s;
    try {
      s = await api.put(path`/slots/${slot.slotId}/delay`, body);
    } finally {
      await refreshAll().catch(() => {});
    }
    const min = s?.delayMinutes ?? body.minutes;
    ok(min ? `Slot ${range(slot)} running ${min} min late` : `Slot ${range(slot)} marked as running late`);
  }, { prefix: "Set delay", fields: { minutes: $("delay-minutes"), delayed: $("delay-minutes") } });
}

async function clearDelay() {
  const slot = selectedSlot();
  if (!slot) return;
  await run($("clear-delay"), async () => {
    try {
      await api.put(path`/slots/${slot.slotId}/delay`, { delayed: false });
    } finally {
      await refreshAll().catch(() => {});
    }
    $("delay-minutes").value = "";
    ok(`Delay cleared for slot ${range(slot)}`);
  }, { prefix: "Clear delay" });
}

function doctorForAdmin() {
  const d = $("doctor").value.trim();
  if (!d || !/^[A-Za-z0-9._:-]{1,64}$/.test(d)) {
    $("doctor").focus();
    fail(new Error("Enter a valid doctor id first (Doctor's day, above)"));
    return null;
  }
  return d;
}

const int = (id) => {
  const v = $(id).value.trim();
  return v === "" ? undefined : Number(v);
};

async function openSessions(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const doctor = doctorForAdmin();
  if (!doctor || !checkForm(form)) return;
  const weekdays = [...form.querySelectorAll('input[name="weekday"]:checked')].map((i) => i.value);
  if (!weekdays.length) {
    fail(new Error("Choose at least one weekday"));
    $("sessions-mon").focus();
    return;
  }
  const body = {
    from: $("sessions-from").value,
    to: $("sessions-to").value,
    weekdays,
    start: $("sessions-start").value.slice(0, 5),
    end: $("sessions-end").value.slice(0, 5),
    slotMinutes: int("sessions-slot-minutes"),
  };
  for (const [k, id] of [["baseCapacity", "sessions-base"], ["premiumBuffer", "sessions-premium"], ["emergencyBuffer", "sessions-emergency"]]) {
    if (int(id) !== undefined) body[k] = int(id);
  }
  await run($("sessions-submit"), async () => {
    const res = await api.post(path`/doctors/${doctor}/sessions`, body);
    const created = res?.created?.length ?? 0;
    const existing = res?.existing?.length ?? 0;
    ok(`${doctor}: ${created} slot${created === 1 ? "" : "s"} created, ${existing} existed`);
    if (doctor === state.doctor) await refreshAll().catch(() => {});
  }, {
    prefix: "Open sessions",
    fields: {
      from: $("sessions-from"),
      to: $("sessions-to"),
      weekdays: $("sessions-mon"),
      start: $("sessions-start"),
      end: $("sessions-end"),
      slotMinutes: $("sessions-slot-minutes"),
      baseCapacity: $("sessions-base"),
      premiumBuffer: $("sessions-premium"),
      emergencyBuffer: $("sessions-emergency"),
    },
  });
}

async function recordLeave(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const doctor = doctorForAdmin();
  if (!doctor || !checkForm(form)) return;
  const body = { date: $("leave-date").value };
  const reason = $("leave-reason").value.trim();
  if (reason) body.reason = reason;
  await run($("leave-submit"), async () => {
    const res = await api.post(path`/doctors/${doctor}/leave`, body);
    const slots = res?.slots ?? 0;
    const cancelled = res?.cancelled?.length ?? 0;
    ok(`${doctor} on leave ${body.date}: ${slots} slot${slots === 1 ? "" : "s"} closed, ${cancelled} booking${cancelled === 1 ? "" : "s"} cancelled`);
    if (doctor === state.doctor) await refreshAll().catch(() => {});
  }, { prefix: "Record leave", fields: { date: $("leave-date"), reason: $("leave-reason") } });
}

// ---- auto-refresh ---------------------------------------------------------------------------
function paused() {
  const a = document.activeElement;
  const typing = a && a.matches("input:not([type=checkbox]), select, textarea") && Date.now() - state.lastTyped < TYPING_PAUSE_MS;
  return typing || $("reschedule-dialog").open || state.busy > 0 || document.hidden;
}

let refreshFailed = false;
async function autoRefresh() {
  try {
    if (!state.session || !state.slotId) return;
    if (paused()) {
      $("refresh-state").textContent = "Auto-refresh paused while you type";
      return;
    }
    state.ticks += 1;
    if (state.ticks % SLOTS_EVERY === 0) await fetchSlots();
    await fetchQueue();
    if (refreshFailed) {
      refreshFailed = false;
      ok("Connection back: the queue is up to date");
    }
  } catch (err) {
    $("refresh-state").textContent = `Auto-refresh failed at ${hhmmss()}, retrying`;
    // Said once (the alert area is not re-announced every 5 s); a 401 always signs out.
    if (!refreshFailed || err?.status === 401) fail(err, { prefix: "Auto-refresh" });
    refreshFailed = true;
  } finally {
    setTimeout(autoRefresh, REFRESH_MS);
  }
}

// ---- wiring ---------------------------------------------------------------------------------
async function main() {
  state.cfg = await loadConfig();
  // A page that sends staff tokens takes ?api= only when it is same origin or the configured base.
  const base = resolveApiBase({ configBase: state.cfg.apiBase, allowForeignParam: false });
  api = createClient({ base, getToken: () => state.session?.token });

  // Back from the managed login page? (This also puts the address from before the login back.)
  try {
    if (state.cfg.cognitoDomain) await auth.completeCognitoLogin(state.cfg);
  } catch (err) {
    fail(err);
  }

  const q = new URLSearchParams(location.search);
  let stored = "";
  try {
    stored = localStorage.getItem("opd.desk.doctor") || "";
  } catch {
    /* private mode */
  }
  $("doctor").value = q.get("doctor") || stored;
  $("day").value = /^\d{4}-\d{2}-\d{2}$/.test(q.get("date") || "") ? q.get("date") : todayStr();
  state.slotId = q.get("slot");

  $("signin-form").addEventListener("submit", signInLocal);
  $("signin-cognito").addEventListener("click", () => auth.startCognitoLogin(state.cfg).catch((err) => fail(err, { prefix: "Sign-in" })));
  $("signout").addEventListener("click", signOutClick);
  $("day-form").addEventListener("submit", loadDay);
  $("slots-body").addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-action=select]");
    if (btn) run(btn, () => selectSlot(btn.closest("tr").dataset.slotId), { prefix: "Could not load the queue" });
  });
  for (const body of [$("queue-body"), $("waitlist-body")]) {
    body.addEventListener("click", (e) => {
      const btn = e.target.closest("button[data-action][data-booking-id]");
      if (btn) bookingAction(btn);
    });
  }
  $("call-next").addEventListener("click", callNext);
  $("refresh").addEventListener("click", () => run($("refresh"), async () => {
    await refreshAll();
    ok("Refreshed");
  }, { prefix: "Refresh" }));
  $("book-form").addEventListener("submit", book);
  $("delay-form").addEventListener("submit", setDelay);
  $("clear-delay").addEventListener("click", clearDelay);
  $("sessions-form").addEventListener("submit", openSessions);
  $("leave-form").addEventListener("submit", recordLeave);
  $("reschedule-form").addEventListener("submit", confirmReschedule);
  $("reschedule-cancel").addEventListener("click", () => $("reschedule-dialog").close());
  $("reschedule-dialog").addEventListener("close", () => (rescheduling = null));
  document.addEventListener("keydown", (e) => {
    if (!e.altKey || !e.shiftKey || e.ctrlKey || e.metaKey || !state.session) return;
    const target = { KeyD: "doctor", KeyB: "book-patient", KeyN: "call-next" }[e.code];
    const t = target && $(target);
    if (!t || !t.getClientRects().length) return; // hidden (signed out, no slot selected)
    e.preventDefault();
    if (target === "call-next") t.click();
    else t.focus();
  });
  document.addEventListener("input", (e) => {
    state.lastTyped = Date.now();
    if (e.target.getAttribute?.("aria-invalid")) e.target.removeAttribute("aria-invalid");
  });

  state.session = auth.currentSession();
  showSignedIn();
  if (state.session) afterSignIn();
  else if (!state.cfg.cognitoDomain) $("signin-user").focus();
  setTimeout(autoRefresh, REFRESH_MS);
}

main();
