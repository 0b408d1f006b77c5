// The reception desk console (desk.html), against shared/api-contract.md version 3.
//
// Hooks for browser tests (stable ids and attributes):
//   sign-in       #signin-role (reception|admin), #signin-user, #signin (submit); deployed:
//                 #signin-cognito; #signout; #whoami ("desk-1 (reception)"); body[data-role]
//   day           #doctor (+ #doctor-list datalist from GET /doctors), #doctor-info, #day (YYYY-MM-DD),
//                 #load-day; #slots table, #slots-caption; td[data-tier] "3 free of 10" / "closed"
//   slots         tr[data-slot-id] (also data-closed, data-delayed, aria-current="true" when
//                 selected) each with button[data-action=select] ("Select", pressed when selected)
//   slot panel    #slot-panel, #slot-heading, #slot-summary, #call-next, #refresh, #refresh-state
//   book          #patient-search (GET /patients?q=), #patient-results button[data-patient-id],
//                 #register-box, #new-patient-name, #new-patient-phone, #register-patient (POST /patients),
//                 #book-patient, #book-patient-name, #book-source (ONLINE|WALKIN|PAID|FOLLOWUP|EMERGENCY),
//                 #book-waitlist, #book-phone, #book (submit)
//   confirm       #confirm-dialog, #confirm-text, #confirm-yes, #confirm-no (cancel, no-show, leave)
//   finished      #finished-body tr[data-finished-row][data-status] (what this desk saw finish)
//   queue         #queue tbody tr[data-booking-row=<bookingId>][data-token][data-status]
//   waitlist      #waitlist tbody tr[data-booking-row][data-status=WAITLISTED][data-waitlist-position]
//   row actions   button[data-action=<a>][data-booking-id=<bookingId>], a in check-in, skip, complete,
//                 no-show, cancel, reschedule; only the moves the booking's state allows are shown;
//                 accessible names such as "Check in token 7"
//   reschedule    #reschedule-dialog, #reschedule-slot (select of the day's other slots),
//                 #reschedule-confirm, #reschedule-cancel
//   delay (admin) #delay-minutes, #set-delay, #clear-delay, #delay-rest
//   sessions      #sessions-from, #sessions-to, #sessions-mon … #sessions-sun (checkboxes),
//   (admin)       #sessions-start, #sessions-end (HH:MM), #sessions-slot-minutes, #sessions-base,
//                 #sessions-premium, #sessions-emergency, #sessions-submit
//   leave (admin) #leave-date, #leave-reason, #leave-submit
//   feedback      #messages (role=alert: the last error, with VALIDATION_ERROR details as
//                 li[data-field]), #status (role=status: the last success, in words),
//                 #log (the last 12 messages, newest first)
//   admin-only    [data-admin-only] elements are hidden unless the role is admin (display only), among them
//                 #reports-link (the header's link to reports.html)
//   slips         #slip-paper (58|80, kept in localStorage); button[data-action=print-slip] on a queue row
//                 (data-booking-id) or a counter token's row (data-counter-number): opens slip.html in the
//                 window "opd-slip"
//   counter       #counter (+ #counter-list: the last counters used), #load-counter, #counter-info,
//                 #counter-panel, #counter-patient-search, #counter-patient-results button[data-patient-id],
//                 #counter-patient, #counter-patient-clear, #counter-issue, #counter-call-next,
//                 #counter-refresh, #counter-summary, #counter-queue-body tr[data-counter-number][data-label]
//                 [data-status][data-source] (a source ABDM row has .badge-abdm)
// Shortcuts: Alt+Shift+D doctor id, Alt+Shift+B patient id (book), Alt+Shift+N call next.
//
// Fetches: GET /doctors/{id}/slots?date= on "Show slots", after every action and every 15 s;
// GET /slots/{id}/queue and /waitlist on select, after every action and every 5 s (paused while
// typing, while a dialog is open, while an action runs, and while the tab is hidden); the same for a
// counter's GET /counters/{id}/queue (and its name, GET /boards/counters/{id}).
import { ApiError, createClient, describeError, loadConfig, path, resolveApiBase } from "./api.js";
import * as auth from "./auth.js";
import { $, el, hhmm, pad, plural, todayStr, uuid } from "./ui.js";

const REFRESH_MS = 5000;
const SLOTS_EVERY = 3; // the slot list every 3rd refresh
const TYPING_PAUSE_MS = 10000;
const LOG_SIZE = 12;

// An estimated time: "09:40", or "Tue 8 Dec 09:40" when it is not today.
const when = (iso) => {
  const t = hhmm(iso);
  if (!t) return "";
  const d = new Date(iso);
  if (todayStr(d) === todayStr()) return t;
  return `${d.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short" })} ${t}`;
};
const hhmmss = (d = new Date()) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
const range = (slot) => `${hhmm(slot.start)}–${hhmm(slot.end)}`;
const TIERS = ["STANDARD", "PREMIUM", "CRITICAL"];
const TIER_OF = { ONLINE: "STANDARD", WALKIN: "STANDARD", PAID: "PREMIUM", FOLLOWUP: "PREMIUM", EMERGENCY: "CRITICAL" };
const TIER_WORDS = { STANDARD: "standard", PREMIUM: "premium", CRITICAL: "critical" };
const FINAL = new Set(["COMPLETED", "CANCELLED", "NO_SHOW"]);
const STATUS_WORDS = {
  WAITLISTED: "Waitlisted",
  BOOKED: "Booked",
  CHECKED_IN: "Checked in",
  CALLED: "Called (in the room)",
  COMPLETED: "Completed",
  CANCELLED: "Cancelled",
  NO_SHOW: "No-show",
};
// What the desk calls a patient: their name from the register, else their patient id.
const who = (b) => b?.patientName || b?.patientId || "the patient";
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
  doctors: [], // GET /doctors: the directory
  seen: new Map(), // bookingId -> the last state this desk saw of a booking of the selected slot
  finished: {}, // slotId -> [Booking]: what this desk saw finish today (the API has no such list)
  counter: "", // the registration counter shown
  counterName: "", // its name (GET /boards/counters/{id}), "" until known
  counterDay: "", // the clinic day of its tokens, as the API answered it
  counterTokens: [], // GET /counters/{id}/queue: today's tokens in number order
  counterPatient: null, // {patientId, name}: the patient the next counter token is for, or null
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
  loadDoctors();
  if ($("doctor").value.trim()) loadDay();
  else $("doctor").focus();
  if ($("counter").value.trim()) loadCounter(); // the counter this desk worked last
}

function signOutClick() {
  signedOut();
  ok("Signed out");
  if (state.cfg.cognitoDomain) location.assign(auth.cognitoLogoutUrl(state.cfg));
  else $("signin-user").focus();
}

// ---- the doctor directory -------------------------------------------------------------------
const doctorOf = (id) => state.doctors.find((d) => d.doctorId === id) || null;
const doctorName = (id) => doctorOf(id)?.name || id;
// "Dr Anjali Rao (Cardiology, room 12B)", or the id for a doctor with no record.
function doctorWords(id) {
  const d = doctorOf(id);
  if (!d) return id;
  const more = [d.department, d.room ? `room ${d.room}` : null].filter(Boolean).join(", ");
  return more ? `${d.name} (${more})` : d.name;
}

async function loadDoctors() {
  try {
    const data = await api.get("/doctors");
    state.doctors = Array.isArray(data?.doctors) ? data.doctors : [];
  } catch {
    state.doctors = []; // a typed id still works
  }
  $("doctor-list").replaceChildren(
    ...state.doctors.map((d) => el("option", { value: d.doctorId }, [d.name, d.department, d.room ? `room ${d.room}` : null].filter(Boolean).join(" · "))),
  );
  showDoctorInfo();
}

function showDoctorInfo() {
  const id = $("doctor").value.trim();
  const d = doctorOf(id);
  $("doctor-info").textContent = d ? doctorWords(id) : id && state.doctors.length ? `${id}: not in the directory (its slots still show)` : "";
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
    showDoctorInfo();
    ok(`${state.slots.length} slot${state.slots.length === 1 ? "" : "s"} of ${doctorName(doctor)} on ${day}`);
  }, { prefix: "Could not load the slots" });
}

async function fetchSlots() {
  const data = await api.get(path`/doctors/${state.doctor}/slots` + `?date=${encodeURIComponent(state.day)}`);
  state.slots = Array.isArray(data?.slots) ? data.slots : [];
  renderSlots();
}

// "3 free of 10" (a closed slot: "closed").
const freeWords = (slot, tier) =>
  slot.closed ? "closed" : `${slot.available?.[tier] ?? "?"} free of ${slot.limits?.[tier] ?? "?"}`;

function places(slot, tier) {
  return el("td", { "data-tier": tier, "data-label": TIER_WORDS[tier] }, freeWords(slot, tier));
}

function badges(slot) {
  const out = [];
  if (slot.closed) out.push(el("span", { className: "badge badge-closed" }, "closed: doctor on leave"));
  if (slot.delayed) out.push(el("span", { className: "badge badge-delayed" }, slot.delayMinutes ? `Delayed ${slot.delayMinutes} min` : "Delayed"));
  if (!slot.closed && Date.parse(slot.end) < Date.now()) out.push(el("span", { className: "badge" }, "Ended"));
  return out;
}

function renderSlots() {
  const focus = rememberFocus();
  const doctor = doctorWords(state.doctor);
  $("slots-caption").textContent = state.slots.length
    ? `Slots of ${doctor} on ${state.day}`
    : `No slots for ${doctor} on ${state.day}`;
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
        el("td", { "data-label": "booked" }, String(s.booked ?? "")),
        el("td", { "data-label": "waitlisted" }, String(s.waitlisted ?? "")),
        el(
          "td",
          { className: "select-cell" },
          el(
            "button",
            { type: "button", dataset: { action: "select" }, "aria-pressed": String(selected), "aria-label": `Select slot ${range(s)}` },
            "Select",
          ),
        ),
      );
    }),
  );
  document.querySelectorAll(".admin-doctor").forEach((e) => (e.textContent = state.doctor ? doctorName(state.doctor) : "the doctor"));
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
  await noteFinished(id);
  renderQueue();
  $("refresh-state").textContent = `Updated ${hhmmss()}`;
}

// ---- today's finished (what this desk saw) ----------------------------------------------------
// The API lists a slot's queue and waitlist but not its finished bookings: a booking this desk saw
// that is in neither any more is read once (GET /bookings/{id}) and, if final, listed here.
function finishedKey() {
  return `opd.desk.finished.${todayStr()}`;
}

function loadFinished() {
  try {
    state.finished = JSON.parse(sessionStorage.getItem(finishedKey()) || "{}") || {};
  } catch {
    state.finished = {};
  }
}

function keepFinished(slotId, b) {
  if (!b || !FINAL.has(b.status)) return;
  const list = (state.finished[slotId] ||= []);
  const i = list.findIndex((x) => x.bookingId === b.bookingId);
  const kept = { bookingId: b.bookingId, token: b.token, patientId: b.patientId, patientName: b.patientName, phone: b.phone, status: b.status, cancelReason: b.cancelReason, at: b.updatedAt };
  if (i >= 0) list[i] = kept;
  else list.push(kept);
  try {
    sessionStorage.setItem(finishedKey(), JSON.stringify(state.finished));
  } catch {
    /* full or private: the list stays in memory */
  }
}

async function noteFinished(slotId) {
  const now = new Map([...state.queue, ...state.waitlist].map((b) => [b.bookingId, b]));
  const gone = [...state.seen.values()].filter((b) => b.slotId === slotId && !now.has(b.bookingId));
  for (const b of now.values()) state.seen.set(b.bookingId, b);
  await Promise.all(
    gone.map(async (b) => {
      state.seen.delete(b.bookingId);
      try {
        keepFinished(slotId, await api.get(path`/bookings/${b.bookingId}`));
      } catch {
        /* not readable now: not listed */
      }
    }),
  );
}

const OUTCOME = { COMPLETED: "Completed", CANCELLED: "Cancelled", NO_SHOW: "No-show" };
const REASON = { PATIENT: "by the patient", STAFF: "by the desk", RESCHEDULED: "moved to another slot", DOCTOR_UNAVAILABLE: "doctor on leave", WAITLIST_EXPIRED: "waitlist over" };

function renderFinished() {
  const list = (state.finished[state.slotId] || []).slice().sort((a, b) => (a.token ?? 1e9) - (b.token ?? 1e9));
  $("finished-body").replaceChildren(
    ...(list.length
      ? list.map((b) =>
          el(
            "tr",
            { dataset: { finishedRow: b.bookingId, status: b.status } },
            el("th", { scope: "row" }, el("span", { className: "cell-label" }, "Token "), String(b.token ?? "–")),
            patientCell(b),
            el("td", { "data-label": "outcome" }, OUTCOME[b.status] || b.status, b.cancelReason && REASON[b.cancelReason] ? ` (${REASON[b.cancelReason]})` : ""),
            el("td", { "data-label": "phone" }, b.phone || "no phone"),
          ),
        )
      : [el("tr", {}, el("td", { colspan: 4, className: "empty" }, "None seen yet"))]),
  );
}

function renderSummary() {
  const s = selectedSlot();
  if (!s) return;
  $("slot-heading").textContent = `Slot ${range(s)}`;
  const parts = [`${s.booked} booked`, `${s.waitlisted} waitlisted`];
  if (!s.closed) parts.push(TIERS.map((t) => `${TIER_WORDS[t]} ${freeWords(s, t)}`).join(", "));
  if (s.delayed) parts.push(s.delayMinutes ? `running ${s.delayMinutes} min late` : "running late");
  if (s.closed) parts.push("closed: doctor on leave");
  $("slot-summary").textContent = parts.join(" · ");
  // A closed slot takes no booking and no call: the buttons say so by being off.
  $("slot-closed-note").hidden = !s.closed;
  $("book").disabled = !!s.closed;
  $("call-next").disabled = !!s.closed;
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
  const whom = b.token != null ? `token ${b.token}` : `waitlisted ${who(b)}`;
  return (ACTIONS[b.status] || []).map((a) =>
    el(
      "button",
      {
        type: "button",
        className: a === "cancel" || a === "no-show" ? "secondary danger-text" : a === "check-in" ? "" : "secondary",
        dataset: { action: a, bookingId: b.bookingId },
        "aria-label": `${ACTION_LABEL[a]} ${whom}`,
      },
      ACTION_LABEL[a],
    ),
  );
}

function source(b) {
  return el("td", { "data-label": "source" }, b.source || "", el("span", { className: "tier" }, ` ${b.tier || TIER_OF[b.source] || ""}`));
}

// Where a booking stands, in words: never "0" for a patient who has not arrived.
function ahead(b) {
  if (b.status === "CALLED") return "in the room";
  if (b.status === "BOOKED") return "not arrived yet";
  if (b.status !== "CHECKED_IN" || b.position == null) return "";
  return b.position === 0 ? "next" : `${b.position} ahead`;
}

function patientCell(b) {
  return el("td", { className: "patient", "data-label": "patient" }, b.patientName || b.patientId || "");
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
            el("th", { scope: "row", className: "token" }, el("span", { className: "cell-label" }, "Token "), String(b.token ?? "–")),
            patientCell(b),
            source(b),
            el("td", { className: "status", "data-label": "status" }, STATUS_WORDS[b.status] || b.status, b.skips ? el("span", { className: "hint" }, ` skipped ${b.skips}×`) : null),
            el("td", { className: "ahead", "data-label": "ahead" }, ahead(b)),
            el("td", { className: "estimate", "data-label": "expected call" }, b.status === "CALLED" ? "" : when(b.estimatedCallAt)),
            el("td", { className: "actions-cell" }, el("div", { className: "actions" }, ...actionButtons(b), slipButton({ bookingId: b.bookingId }, `token ${b.token}`))),
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
            el("th", { scope: "row" }, el("span", { className: "cell-label" }, "Waitlist "), String(b.waitlistPosition ?? "")),
            patientCell(b),
            source(b),
            el("td", { className: "actions-cell" }, el("div", { className: "actions" }, ...actionButtons(b))),
          ),
        )
      : [el("tr", {}, el("td", { colspan: 4, className: "empty" }, state.waitlistError ? `Waitlist not shown: ${state.waitlistError}` : "No one waitlisted"))]),
  );
  renderFinished();
  restoreFocus(focus, $("queue"));
}

// Re-rendering a table must not drop keyboard focus on the floor.
// (the same button, else the first button of the same booking's row, else the table).
function rememberFocus() {
  const a = document.activeElement;
  if (!a || a === document.body || !a.dataset?.action) return null;
  if (a.dataset.counterNumber) return [`button[data-action="${CSS.escape(a.dataset.action)}"][data-counter-number="${CSS.escape(a.dataset.counterNumber)}"]`];
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
  return b.token != null ? `Token ${b.token}` : `The waitlist place of ${who(b)}`;
}

// ---- confirmation -----------------------------------------------------------------------------
// A native modal <dialog>: focus goes to "No" (the safe answer), Escape or "No" changes nothing,
// and focus goes back to the button that asked.
function confirmAction({ title, text, yes, no = "No, keep it" }) {
  const dialog = $("confirm-dialog");
  const back = document.activeElement;
  $("confirm-heading").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  $("confirm-no").textContent = no;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        resolve(dialog.returnValue === "yes");
        if (back && back.isConnected && typeof back.focus === "function") back.focus();
      },
      { once: true },
    );
    dialog.showModal();
    $("confirm-no").focus();
  });
}

// What a cancel or a no-show will do, in words.
function consequence(action, b) {
  const name = nameOf(b);
  const person = who(b);
  const waiting = state.waitlist.length;
  const place =
    b.status === "WAITLISTED"
      ? "They leave the waitlist."
      : `Their place is given back${waiting ? ` and goes to the first waitlisted patient it fits (${plural(waiting, "patient")} waiting)` : ""}.`;
  if (action === "cancel") {
    return {
      title: b.token != null ? `Cancel token ${b.token}?` : `Cancel the waitlist place of ${person}?`,
      text: `${name} (${person}) will be cancelled. ${place} No SMS is sent for a cancel by the desk. This cannot be undone.`,
      yes: `Yes, cancel ${b.token != null ? `token ${b.token}` : "it"}`,
    };
  }
  return {
    title: `Mark token ${b.token} as not come?`,
    text: `${name} (${person}) will be marked no-show: they cannot be checked in any more. ${place} This cannot be undone.`,
    yes: `Yes, mark token ${b.token} no-show`,
  };
}

// The waitlisted bookings that got a place between two readings of the slot: "promoted".
function promotedSince(waitlistBefore) {
  const inQueue = new Map(state.queue.map((b) => [b.bookingId, b]));
  return waitlistBefore.filter((w) => inQueue.has(w.bookingId)).map((w) => inQueue.get(w.bookingId));
}

async function bookingAction(button) {
  const action = button.dataset.action;
  const id = button.dataset.bookingId;
  const b = findBooking(id) || { bookingId: id, token: null, patientId: null };
  if (action === "print-slip") return printSlip({ booking: id }, `token ${b.token}`);
  if (action === "reschedule") return openReschedule(b, button);
  if ((action === "cancel" || action === "no-show") && !(await confirmAction(consequence(action, b)))) {
    ok(`Nothing changed: ${nameOf(b).replace(/^T/, "t")} kept`);
    return;
  }
  const waitlistBefore = state.waitlist.slice();
  await run(button, async () => {
    let res;
    try {
      res = await api.post(path`/bookings/${id}/${action}`);
      if (res && FINAL.has(res.status)) keepFinished(res.slotId || state.slotId, res);
    } finally {
      await refreshAll().catch(() => {});
    }
    const name = nameOf(b);
    const promoted = promotedSince(waitlistBefore)
      .map((p) => ` ${who(p)} moved up from the waitlist as token ${p.token}.`)
      .join("");
    const words = {
      "check-in": `${name} checked in`,
      complete: `${name} completed`,
      "no-show": `${name} marked no-show.${promoted}`,
      cancel: `${name} cancelled.${promoted}`,
      skip:
        res?.status === "NO_SHOW"
          ? `${name} skipped a third time: marked no-show.${promoted}`
          : `${name} skipped: back in the queue${res?.position != null ? ` with ${res.position} ahead` : ""}`,
    };
    ok((words[action] || `${name}: ${action} done`).replace(/\.$/, ""));
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
    if (res?.completed) keepFinished(slot.slotId, res.completed);
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
    state.picked = null;
    const fields = form.querySelectorAll("#book-patient, #book-phone, #patient-search");
    fields.forEach((i) => (i.value = ""));
    $("book-waitlist").checked = false;
    $("book-source").value = "WALKIN"; // the next patient's source is asked afresh
    $("book-patient-name").textContent = "";
    $("patient-results").replaceChildren();
    ok(
      b?.status === "WAITLISTED"
        ? `${who(b)} waitlisted for ${range(slot)} at position ${b.waitlistPosition}`
        : `Token ${b?.token} booked for ${who(b)} (${b?.tier || TIER_OF[body.source]}) in ${range(slot)}${b?.estimatedCallAt ? `, expected about ${when(b.estimatedCallAt)}` : ""}`,
    );
    $("book-patient").focus();
  }, {
    prefix: "Booking failed",
    fields: { patientId: $("book-patient"), source: $("book-source"), phone: $("book-phone"), waitlist: $("book-waitlist") },
  });
}

// ---- patients: search as you type, pick, or register -------------------------------------------
const lastDigits = (phone) => (phone ? `phone …${String(phone).slice(-4)}` : "no phone");

// Search as you type (GET /patients?q=), for the booking form and for a counter's token: each box its own list,
// and `empty` says what to do when no one is found.
function patientSearch(input, results, empty) {
  let searchSeq = 0;
  let searchTimer = 0;
  return () => {
    clearTimeout(searchTimer);
    const q = input.value.trim();
    const seq = ++searchSeq;
    if (q.length < 2) {
      results.replaceChildren();
      return;
    }
    searchTimer = setTimeout(async () => {
      try {
        const data = await api.get(`/patients?q=${encodeURIComponent(q)}`);
        if (seq !== searchSeq) return; // a later search is on its way
        const found = Array.isArray(data?.patients) ? data.patients : [];
        results.replaceChildren(
          ...(found.length
            ? found.map((p) =>
                el(
                  "li",
                  {},
                  el(
                    "button",
                    { type: "button", className: "secondary", dataset: { patientId: p.patientId, action: "pick-patient" } },
                    [p.name || "(no name yet)", lastDigits(p.phone), p.yearOfBirth ? `born ${p.yearOfBirth}` : null].filter(Boolean).join(" · "),
                  ),
                ),
              )
            : [el("li", { className: "empty" }, `No patient found for “${q}”: ${empty}`)]),
        );
        results.found = found;
      } catch (err) {
        if (seq === searchSeq) fail(err, { prefix: "Patient search" });
      }
    }, 250);
  };
}

function pickPatient(p) {
  state.picked = { patientId: p.patientId, patientName: p.name };
  $("book-patient").value = p.patientId;
  $("book-patient").removeAttribute("aria-invalid");
  $("book-patient-name").textContent = [p.name, lastDigits(p.phone)].filter(Boolean).join(", ");
  if (p.phone && !$("book-phone").value.trim()) $("book-phone").value = p.phone;
  $("patient-results").replaceChildren();
  $("book-source").focus();
}

async function registerPatient() {
  const name = $("new-patient-name").value.trim();
  const phone = $("new-patient-phone").value.trim();
  if (!name) {
    $("new-patient-name").setAttribute("aria-invalid", "true");
    $("new-patient-name").focus();
    fail(new Error("Give the new patient's name"));
    return;
  }
  const body = { name };
  if (phone) body.phone = phone;
  await run($("register-patient"), async () => {
    const p = await api.post("/patients", body);
    $("new-patient-name").value = "";
    $("new-patient-phone").value = "";
    $("register-box").open = false;
    pickPatient(p);
    ok(`${p.name} registered: choose the source and press Book`);
  }, { prefix: "Register patient", fields: { name: $("new-patient-name"), phone: $("new-patient-phone") } });
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
  $("reschedule-heading").textContent = `Reschedule token ${b.token} (${who(b)})`;
  $("reschedule-slot").replaceChildren(
    ...targets.map((s) => el("option", { value: s.slotId }, `${range(s)} · ${TIER_WORDS[tier]} ${freeWords(s, tier)}`)),
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

// The doctor is late for the whole day: the same delay on the chosen slot and every later one.
async function delayRest() {
  const slot = selectedSlot();
  if (!slot || !checkForm($("delay-form"))) return;
  const minutes = $("delay-minutes").value.trim();
  const body = { delayed: true };
  if (minutes !== "") body.minutes = Number(minutes);
  const from = Date.parse(slot.start);
  const targets = state.slots.filter((s) => Date.parse(s.start) >= from && !s.closed);
  await run($("delay-rest"), async () => {
    let done = 0;
    try {
      for (const s of targets) {
        await api.put(path`/slots/${s.slotId}/delay`, body);
        done += 1;
      }
    } catch (err) {
      err.doneBefore = done;
      throw err;
    } finally {
      await refreshAll().catch(() => {});
    }
    const late = body.minutes ? `running ${body.minutes} min late` : "marked as running late";
    ok(`${plural(done, "slot")} from ${hhmm(slot.start)} on ${late}`);
  }, { prefix: `Delay the rest of the day (the slots before the failure are delayed)`, fields: { minutes: $("delay-minutes") } });
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
    ok(`${doctorName(doctor)}: ${created} slot${created === 1 ? "" : "s"} created, ${existing} existed`);
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

// What leave on that day would cancel: the day's slots, and in each the booked, checked-in and
// waitlisted bookings (the called one and the finished ones are not touched).
async function leavePreview(doctor, date) {
  const data = await api.get(path`/doctors/${doctor}/slots` + `?date=${encodeURIComponent(date)}`);
  const slots = (Array.isArray(data?.slots) ? data.slots : []).filter((s) => !s.closed);
  let bookings = 0;
  let withoutPhone = 0;
  for (const s of slots) {
    if (!s.booked && !s.waitlisted) continue;
    const [q, w] = await Promise.all([api.get(path`/slots/${s.slotId}/queue`), api.get(path`/slots/${s.slotId}/waitlist`)]);
    const hit = [...(q?.queue || []).filter((b) => b.status !== "CALLED"), ...(w?.waitlist || [])];
    bookings += hit.length;
    withoutPhone += hit.filter((b) => !b.phone).length;
  }
  return { slots: slots.length, bookings, withoutPhone };
}

async function recordLeave(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const doctor = doctorForAdmin();
  if (!doctor || !checkForm(form)) return;
  const body = { date: $("leave-date").value };
  const reason = $("leave-reason").value.trim();
  if (reason) body.reason = reason;
  const button = $("leave-submit");
  if (button.getAttribute("aria-disabled") === "true") return;
  let preview;
  button.setAttribute("aria-disabled", "true"); // one question at a time
  try {
    preview = await leavePreview(doctor, body.date);
  } catch (err) {
    fail(err, { prefix: "Record leave: could not read the day" });
    return;
  } finally {
    button.removeAttribute("aria-disabled");
  }
  const what = preview.slots
    ? `${plural(preview.slots, "slot")} of ${doctorName(doctor)} on ${body.date} will be closed. ` +
      (preview.bookings
        ? `${plural(preview.bookings, "booking")} will be cancelled and their patients told by SMS` +
          (preview.withoutPhone ? ` (${preview.withoutPhone} of them have no phone and are not told)` : "") +
          ". Patients already called are not touched."
        : "No booking will be cancelled.")
    : `${doctorName(doctor)} has no slot on ${body.date}: nothing will change.`;
  const sure = await confirmAction({
    title: `Record leave for ${doctorName(doctor)} on ${body.date}?`,
    text: `${what} This cannot be undone from the desk.`,
    yes: "Yes, record leave",
    no: "No, go back",
  });
  if (!sure) {
    ok(`Nothing changed: no leave recorded for ${doctorName(doctor)} on ${body.date}`);
    return;
  }
  await run($("leave-submit"), async () => {
    const res = await api.post(path`/doctors/${doctor}/leave`, body);
    const slots = res?.slots ?? 0;
    const cancelled = res?.cancelled?.length ?? 0;
    ok(`${doctorName(doctor)} on leave ${body.date}: ${slots} slot${slots === 1 ? "" : "s"} closed, ${cancelled} booking${cancelled === 1 ? "" : "s"} cancelled`);
    if (doctor === state.doctor) await refreshAll().catch(() => {});
  }, { prefix: "Record leave", fields: { date: $("leave-date"), reason: $("leave-reason") } });
}

// ---- token slips ------------------------------------------------------------------------------
const PAPER_KEY = "opd.desk.paper";

// slip.html in a window of its own, the same one slip after slip ("opd-slip"). A window the desk opens gets a
// copy of this tab's sessionStorage, so the slip reads the booking or the counter's queue with the desk's token.
function printSlip(query, what) {
  const q = new URLSearchParams({ ...query, paper: $("slip-paper").value === "80" ? "80" : "58" });
  const base = new URLSearchParams(location.search).get("api");
  if (base) q.set("api", base); // the same API as the desk (slip.js takes only a same-origin or configured one)
  const opened = window.open(`slip.html?${q}`, "opd-slip");
  if (!opened) {
    fail(new Error(`The slip for ${what} could not open: allow pop-ups for the desk, then press Print slip again`));
    return;
  }
  ok(`Slip for ${what} opened for printing`);
}

function slipButton(query, what) {
  return el(
    "button",
    {
      type: "button",
      className: "secondary",
      dataset: { action: "print-slip", ...(query.bookingId ? { bookingId: query.bookingId } : { counterNumber: String(query.number) }) },
      "aria-label": `Print slip for ${what}`,
    },
    "Print slip",
  );
}

// ---- registration counters ------------------------------------------------------------------
const COUNTER_KEY = "opd.desk.counter"; // the last counter shown
const COUNTERS_KEY = "opd.desk.counters"; // the last few, for the list under the field
const COUNTER_STATUS = { WAITING: "Waiting", CALLED: "Called (at the counter)", SERVED: "Served", EXPIRED: "Expired" };
const ACTIVE_TOKEN = new Set(["WAITING", "CALLED"]);
const counterName = () => state.counterName || state.counter;

function storedCounters() {
  try {
    const list = JSON.parse(localStorage.getItem(COUNTERS_KEY) || "[]");
    return Array.isArray(list) ? list.filter((x) => typeof x === "string" && /^[A-Za-z0-9._:-]{1,64}$/.test(x)) : [];
  } catch {
    return [];
  }
}

function rememberCounter(id) {
  const list = [id, ...storedCounters().filter((x) => x !== id)].slice(0, 8);
  try {
    localStorage.setItem(COUNTER_KEY, id);
    localStorage.setItem(COUNTERS_KEY, JSON.stringify(list));
  } catch {
    /* private mode: the field keeps it for now */
  }
  $("counter-list").replaceChildren(...list.map((x) => el("option", { value: x })));
}

// A counter's errors in the desk's words: its day full is not a doctor's.
function counterError(err) {
  if (err instanceof ApiError && err.code === "DAY_FULL") return new Error("This counter has given all the tokens it can today");
  return err;
}

async function loadCounter(e) {
  e?.preventDefault();
  if (!checkForm($("counter-form"))) return;
  const id = $("counter").value.trim();
  if (id !== state.counter) {
    state.counter = id;
    state.counterName = "";
    state.counterTokens = [];
  }
  rememberCounter(id);
  await run($("load-counter"), async () => {
    await fetchCounter();
    $("counter-panel").hidden = false;
    if (e) ok(`${counterName()}: ${counterSummary()}`); // not after sign-in, where the doctor's day speaks
  }, { prefix: "Could not load the counter", fields: { counterId: $("counter") } });
}

// Today's tokens (the API's today, the clinic's) and the counter's name; a name that cannot be read is not an error.
async function fetchCounter() {
  const id = state.counter;
  if (!id) return;
  const [q, b] = await Promise.allSettled([api.get(path`/counters/${id}/queue`), api.get(path`/boards/counters/${id}`)]);
  if (id !== state.counter) return; // another counter was chosen meanwhile
  if (q.status === "rejected") throw q.reason;
  state.counterTokens = Array.isArray(q.value?.tokens) ? q.value.tokens : [];
  state.counterDay = q.value?.date || todayStr();
  const name = b.status === "fulfilled" ? b.value?.name : null;
  if (typeof name === "string" && name.trim()) state.counterName = name.trim();
  renderCounter();
  $("counter-refresh-state").textContent = `Updated ${hhmmss()}`;
}

// "calling R-3, 4 waiting, 9 issued today"
function counterSummary() {
  const tokens = state.counterTokens;
  const calling = tokens.find((t) => t.status === "CALLED");
  const waiting = tokens.filter((t) => t.status === "WAITING").length;
  return [calling ? `calling ${calling.label}` : "no one called", `${waiting} waiting`, `${tokens.length} issued today`].join(", ");
}

function renderCounter() {
  const focus = rememberFocus();
  $("counter-info").textContent = state.counterName && state.counterName !== state.counter ? state.counterName : `${state.counter}: no name recorded (it works as it is)`;
  $("counter-summary").textContent = `${counterName()}: ${counterSummary()}`;
  const tokens = state.counterTokens;
  $("counter-queue-body").replaceChildren(
    ...(tokens.length
      ? tokens.map((t) =>
          el(
            "tr",
            {
              dataset: { counterNumber: String(t.number), label: t.label, status: t.status, source: t.source },
              className: `status-${String(t.status).toLowerCase()}`,
            },
            el("th", { scope: "row", className: "token" }, el("span", { className: "cell-label" }, "Token "), t.label),
            el("td", { className: "patient", "data-label": "patient" }, t.patientName || t.patientId || "not given"),
            el(
              "td",
              { "data-label": "source" },
              t.source === "ABDM" ? el("span", { className: "badge badge-abdm" }, "ABDM Scan & Share") : "Desk",
            ),
            el("td", { className: "status", "data-label": "status" }, COUNTER_STATUS[t.status] || t.status),
            el("td", { "data-label": "issued" }, hhmm(t.createdAt)),
            el(
              "td",
              { className: "actions-cell" },
              el("div", { className: "actions" }, ACTIVE_TOKEN.has(t.status) ? slipButton({ number: t.number }, `token ${t.label}`) : null),
            ),
          ),
        )
      : [el("tr", {}, el("td", { colspan: 6, className: "empty" }, "No token issued today"))]),
  );
  restoreFocus(focus, $("counter-queue"));
}

function pickCounterPatient(p) {
  state.counterPatient = { patientId: p.patientId, name: p.name };
  $("counter-patient").textContent = `Token for ${[p.name || "(no name yet)", lastDigits(p.phone)].join(", ")}`;
  $("counter-patient-results").replaceChildren();
  $("counter-patient-search").value = "";
  $("counter-patient-clear").hidden = false;
  $("counter-issue").focus();
}

function clearCounterPatient() {
  state.counterPatient = null;
  $("counter-patient").textContent = "No patient chosen: the token is for whoever is at the counter";
  $("counter-patient-clear").hidden = true;
}

async function issueCounterToken(e) {
  e?.preventDefault();
  if (!state.counter) return;
  const body = state.counterPatient ? { patientId: state.counterPatient.patientId } : {};
  await run($("counter-issue"), async () => {
    let t;
    try {
      t = await api.post(path`/counters/${state.counter}/tokens`, body);
    } catch (err) {
      throw counterError(err);
    } finally {
      await fetchCounter().catch(() => {});
    }
    clearCounterPatient();
    ok(`Token ${t.label} issued${t.patientName ? ` for ${t.patientName}` : ""} at ${counterName()}: print its slip from the list`);
    // Next, most often: its slip.
    $("counter-queue-body").querySelector(`button[data-action="print-slip"][data-counter-number="${CSS.escape(String(t.number))}"]`)?.focus();
  }, { prefix: "Issue token", fields: { patientId: $("counter-patient-search") } });
}

async function counterCallNext() {
  if (!state.counter) return;
  await run($("counter-call-next"), async () => {
    let res;
    try {
      res = await api.post(path`/counters/${state.counter}/call-next`);
    } finally {
      await fetchCounter().catch(() => {});
    }
    const parts = [];
    if (res?.served) parts.push(`Served ${res.served.label}`);
    const called = res?.called;
    parts.push(called ? `Called ${called.label}${called.patientName ? ` (${called.patientName})` : ""}` : "No one waiting to call");
    ok(`${counterName()}: ${parts.join(". ")}`);
  }, { prefix: "Call next at the counter" });
}

function counterSlip(button) {
  const t = state.counterTokens.find((x) => String(x.number) === button.dataset.counterNumber);
  if (!t) return;
  printSlip({ counter: state.counter, date: t.date || state.counterDay, number: String(t.number) }, `token ${t.label}`);
}

let counterRefreshFailed = false;
async function counterAutoRefresh() {
  try {
    if (!state.session || !state.counter || $("counter-panel").hidden || paused()) return;
    await fetchCounter();
    counterRefreshFailed = false;
  } catch (err) {
    $("counter-refresh-state").textContent = `Auto-refresh failed at ${hhmmss()}, retrying`;
    if (!counterRefreshFailed || err?.status === 401) fail(err, { prefix: "Counter auto-refresh" });
    counterRefreshFailed = true;
  } finally {
    setTimeout(counterAutoRefresh, REFRESH_MS);
  }
}

// ---- auto-refresh ---------------------------------------------------------------------------
function paused() {
  const a = document.activeElement;
  const typing = a && a.matches("input:not([type=checkbox]), select, textarea") && Date.now() - state.lastTyped < TYPING_PAUSE_MS;
  return typing || $("reschedule-dialog").open || $("confirm-dialog").open || state.busy > 0 || document.hidden;
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
  $("delay-rest").addEventListener("click", delayRest);
  $("doctor").addEventListener("input", showDoctorInfo);
  $("patient-search").addEventListener("input", patientSearch($("patient-search"), $("patient-results"), "register them below"));
  $("patient-results").addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-patient-id]");
    const p = btn && ($("patient-results").found || []).find((x) => x.patientId === btn.dataset.patientId);
    if (p) pickPatient(p);
  });
  $("book-patient").addEventListener("input", () => {
    $("book-patient-name").textContent = "";
    state.picked = null;
  });
  $("register-patient").addEventListener("click", registerPatient);
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

  // Slips and registration counters.
  try {
    $("slip-paper").value = localStorage.getItem(PAPER_KEY) === "80" ? "80" : "58";
    $("counter").value = q.get("counter") || localStorage.getItem(COUNTER_KEY) || "";
  } catch {
    /* private mode */
  }
  $("counter-list").replaceChildren(...storedCounters().map((x) => el("option", { value: x })));
  $("slip-paper").addEventListener("change", () => {
    try {
      localStorage.setItem(PAPER_KEY, $("slip-paper").value);
    } catch {
      /* private mode: this page keeps it */
    }
  });
  $("counter-form").addEventListener("submit", loadCounter);
  $("counter-issue-form").addEventListener("submit", issueCounterToken);
  $("counter-call-next").addEventListener("click", counterCallNext);
  $("counter-refresh").addEventListener("click", () => run($("counter-refresh"), async () => {
    await fetchCounter();
    ok(`${counterName()}: ${counterSummary()}`);
  }, { prefix: "Refresh the counter" }));
  $("counter-patient-search").addEventListener(
    "input",
    patientSearch($("counter-patient-search"), $("counter-patient-results"), "the token can be issued without a patient"),
  );
  $("counter-patient-results").addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-patient-id]");
    const p = btn && ($("counter-patient-results").found || []).find((x) => x.patientId === btn.dataset.patientId);
    if (p) pickCounterPatient(p);
  });
  $("counter-patient-clear").addEventListener("click", () => {
    clearCounterPatient();
    $("counter-patient-search").focus();
  });
  $("counter-queue-body").addEventListener("click", (e) => {
    const btn = e.target.closest("button[data-action=print-slip][data-counter-number]");
    if (btn) counterSlip(btn);
  });

  loadFinished();
  state.session = auth.currentSession();
  showSignedIn();
  if (state.session) afterSignIn();
  else if (!state.cfg.cognitoDomain) $("signin-user").focus();
  setTimeout(autoRefresh, REFRESH_MS);
  setTimeout(counterAutoRefresh, REFRESH_MS);
}

main();
