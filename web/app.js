// The patient app (app.html), against shared/api-contract.md version 3: sign in by phone and code, name
// yourself the first time, book a slot (or join its waitlist), follow "my bookings", cancel and reschedule. In the
// patient's language (en, hi, ta: the switch's choice on this device, else the browser's); every text is the
// catalog's (i18n.js, i18n-<code>.json). The language shown goes with the sign-in code's request
// (Accept-Language: its SMS) and with each booking (`language`: its SMS), and names a new patient's record.
//
// Hooks for browser tests: #lang-switch button[data-lang][aria-pressed], #phone, #send-code, #code, #verify, #new-code; #name, #save-name; #whoami, #signout;
// #department, #doctor, #day, #slots li[data-slot-id] with button[data-action=book|waitlist];
// #bookings li[data-booking-id][data-status] with .booking-token, .booking-state, .booking-position,
// .booking-estimate, a.status-link, button[data-action=cancel|reschedule]; #confirm-dialog (#confirm-yes,
// #confirm-no); #reschedule-dialog (#reschedule-day, #reschedule-slot, #reschedule-confirm); #message
// (role=status), #error (role=alert).
//
// The session (the access token and the patientId) is kept in localStorage until it expires or the patient
// signs out, so a patient opening the app again the same hour needs no new SMS code.
import { ApiError, createClient, loadConfig, path, resolveApiBase } from "./api.js";
import { decodeClaims } from "./auth.js";
import { chosenLanguage, currentLanguage, languageSwitch, t, tn, translatePage, useLanguage } from "./i18n.js";
import { $, dayWords, doctorWords, el, errorWords, hhmm, isToday, positionWords, statusWords, todayStr, uuid, when } from "./ui.js";

const SESSION = "opd.patient"; // {token, patientId, phone, exp}
const POLL_MS = 5000;
const SLOTS_EVERY = 3; // the slot list every 3rd poll
const DAYS_AHEAD = 30;
const E164 = /^\+[1-9][0-9]{6,14}$/;
const OPEN = new Set(["WAITLISTED", "BOOKED", "CHECKED_IN", "CALLED"]);
// POST /bookings carries the language shown (contract v3, "Languages": the booking's SMS are in it).
const BOOKING_LANGUAGE = true;

const state = {
  session: null,
  patient: null, // GET /patients/{id}
  doctors: new Map(), // doctorId -> Doctor (GET /doctors)
  bookings: [],
  seen: new Map(), // bookingId -> the status last shown, to tell the patient what changed
  slotTimes: new Map(), // slotId -> {start, end}
  pending: null, // {slotId, waitlist, key}: a booking sent but not answered for sure (resent with its key)
  phone: "", // the number the code was sent to
  busy: false,
  ticks: 0,
  slotList: null, // {doctorId, day, slots}: the last GET /doctors/{id}/slots shown
  said: null, // () => text: the last #message, written again in another language
  failed: null, // () => text: the last #error, likewise
};
let api;
let timer = null;

// ---- feedback ---------------------------------------------------------------------------------
// What the app says is kept as a function of the language shown: the switch writes it again.
function say(words) {
  state.said = words;
  state.failed = null;
  $("message").textContent = words();
  $("error").textContent = "";
}

function showError(words) {
  state.failed = words;
  $("error").textContent = words ? words() : "";
}

function fail(err) {
  if (err instanceof ApiError && err.status === 401 && err.code !== "INVALID_CODE" && state.session) {
    signOut(() => t("app.signedOutExpired"));
    return;
  }
  showError(() => errorWords(err));
}

// A field's value checked before anything is sent: marked, said and focused when it is not right.
function valid(id, ok, key) {
  if (ok) {
    $(id).removeAttribute("aria-invalid");
    return true;
  }
  $(id).setAttribute("aria-invalid", "true");
  showError(() => t(key));
  $(id).focus();
  return false;
}

// ---- the session --------------------------------------------------------------------------------
function loadSession() {
  try {
    const s = JSON.parse(localStorage.getItem(SESSION) || "null");
    if (s && s.token && s.patientId && (!s.exp || s.exp > Date.now())) return s;
  } catch {
    /* a damaged entry is no session */
  }
  localStorage.removeItem(SESSION);
  return null;
}

function saveSession(answer, phone) {
  const claims = decodeClaims(answer.accessToken);
  const exp = typeof claims.exp === "number" ? claims.exp * 1000 : Date.now() + (answer.expiresIn || 3600) * 1000;
  const session = { token: answer.accessToken, patientId: answer.patientId, phone, exp };
  localStorage.setItem(SESSION, JSON.stringify(session));
  return session;
}

function signOut(words = () => t("app.signedOut")) {
  localStorage.removeItem(SESSION);
  Object.assign(state, { session: null, patient: null, bookings: [], pending: null });
  state.seen.clear();
  clearTimeout(timer);
  show();
  say(words);
}

// Spaces and dashes dropped; a 10-digit number (or 0 and 10 digits) is India's.
export function normalisePhone(text) {
  let p = String(text || "").replace(/[\s().-]/g, "");
  if (/^0?[6-9][0-9]{9}$/.test(p)) p = `+91${p.slice(-10)}`;
  else if (/^91[6-9][0-9]{9}$/.test(p)) p = `+${p}`;
  return E164.test(p) ? p : null;
}

async function sendCode(event) {
  event?.preventDefault();
  const phone = normalisePhone($("phone").value);
  if (!valid("phone", phone, "app.signin.badPhone")) return;
  await busy($("send-code"), async () => {
    // The code's SMS in the language shown (the contract: the request's Accept-Language among en, hi, ta).
    await api.post("/auth/otp", { phone }, { headers: { "accept-language": currentLanguage() } });
    state.phone = phone;
    $("code-form").hidden = false;
    $("code").value = "";
    $("code").focus();
    say(() => t("app.signin.codeSent", { phone }));
  });
}

async function verifyCode(event) {
  event.preventDefault();
  const code = $("code").value.replace(/\s/g, "");
  if (!valid("code", /^[0-9]{6}$/.test(code), "app.signin.badCode")) return;
  await busy($("verify"), async () => {
    const answer = await api.post("/auth/otp/verify", { phone: state.phone, code });
    state.session = saveSession(answer, state.phone);
    say(() => t(answer.newPatient ? "app.signin.welcome" : "app.signin.done"));
    await start();
  });
}

async function saveName(event) {
  event.preventDefault();
  const name = $("name").value.trim();
  if (!valid("name", name, "app.name.missing")) return;
  await busy($("save-name"), async () => {
    // A new patient's record gets the language they use here (their SMS from the desk's bookings follow it).
    const body = { name, language: currentLanguage() };
    state.patient = await api.request("PATCH", path`/patients/${state.session.patientId}`, { body });
    const named = state.patient.name;
    say(() => t("app.name.thanks", { name: named }));
    await ready();
  });
}

// ---- what is shown --------------------------------------------------------------------------------
function show() {
  const signedIn = Boolean(state.session);
  const named = Boolean(state.patient?.name);
  $("signin").hidden = signedIn;
  $("signout").hidden = !signedIn;
  $("name-step").hidden = !signedIn || !state.patient || named;
  $("mine").hidden = !signedIn || !named;
  $("book").hidden = !signedIn || !named;
  $("whoami").textContent = signedIn ? state.patient?.name || state.session.phone || "" : "";
  if (!signedIn) {
    $("code-form").hidden = !state.phone;
  }
}

const doctorOf = (id) => state.doctors.get(id);
const doctorText = (id) => {
  const d = doctorOf(id);
  return d ? doctorWords(d.name, d.room) : id;
};

function slotWords(slotId) {
  const slot = state.slotTimes.get(slotId);
  return slot ? `${dayWords(slot.start)}, ${hhmm(slot.start)}–${hhmm(slot.end)}` : "";
}

const tokenWords = (b) => (b.token == null ? t("app.waitlistPlace") : t("common.token", { token: b.token }));

function renderBookings() {
  const list = $("bookings");
  // Open bookings first, each group by its slot's time.
  const order = (b) => [OPEN.has(b.status) ? 0 : 1, state.slotTimes.get(b.slotId)?.start || ""];
  const shown = [...state.bookings].sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1].localeCompare(y[1]);
  });
  $("mine-empty").hidden = shown.length > 0;
  list.replaceChildren(
    ...shown.map((b) => {
      const doctor = doctorText(b.doctorId);
      const lines = [
        el("p", { className: "booking-token" }, tokenWords(b)),
        el("p", { className: "booking-state" }, statusWords(b, doctor)),
        el("p", { className: "booking-doctor" }, doctor),
        el("p", { className: "booking-time" }, slotWords(b.slotId)),
      ];
      const ahead = positionWords(b.position, b.status);
      if (ahead) lines.push(el("p", { className: "booking-position" }, ahead));
      if (b.estimatedCallAt && b.status !== "CALLED") {
        lines.push(el("p", { className: "booking-estimate" }, t("common.expected", { time: when(b.estimatedCallAt) })));
      }
      const actions = el("div", { className: "actions" });
      if (b.statusCode) {
        actions.append(
          el("a", { className: "button secondary status-link", href: `status.html#${encodeURIComponent(b.statusCode)}` }, t("app.statusPage")),
        );
      }
      if (b.status === "BOOKED") {
        actions.append(el("button", { type: "button", className: "secondary", dataset: { action: "reschedule", bookingId: b.bookingId } }, t("app.changeTime")));
      }
      if (["WAITLISTED", "BOOKED", "CHECKED_IN"].includes(b.status)) {
        actions.append(el("button", { type: "button", className: "danger", dataset: { action: "cancel", bookingId: b.bookingId } }, t("app.cancel")));
      }
      lines.push(actions);
      return el("li", { dataset: { bookingId: b.bookingId, status: b.status } }, el("div", { className: "card" }, ...lines));
    }),
  );
}

// Tell the patient what changed since the last look: a promotion, their call.
function announceChanges(bookings) {
  for (const b of bookings) {
    const before = state.seen.get(b.bookingId);
    if (before === "WAITLISTED" && b.status === "BOOKED") {
      say(() => t("app.promoted", { token: b.token, doctor: doctorText(b.doctorId) }));
    } else if (before && before !== "CALLED" && b.status === "CALLED") {
      say(() => t("app.called", { token: b.token, doctor: doctorText(b.doctorId) }));
    }
    state.seen.set(b.bookingId, b.status);
  }
}

// ---- booking ------------------------------------------------------------------------------------
function fillDoctors() {
  const department = $("department").value;
  const doctors = [...state.doctors.values()].filter((d) => d.department === department);
  const before = $("doctor").value;
  $("doctor").replaceChildren(...doctors.map((d) => el("option", { value: d.doctorId }, doctorWords(d.name, d.room))));
  if (doctors.some((d) => d.doctorId === before)) $("doctor").value = before;
}

async function loadDirectory() {
  const { doctors } = await api.get("/doctors");
  state.doctors = new Map(doctors.map((d) => [d.doctorId, d]));
  const departments = [...new Set(doctors.map((d) => d.department))];
  const before = $("department").value;
  $("department").replaceChildren(...departments.map((name) => el("option", { value: name }, name)));
  if (departments.includes(before)) $("department").value = before;
  fillDoctors();
}

function placesWords(slot) {
  if (slot.closed) return t("app.slot.closed");
  const free = slot.available?.STANDARD ?? 0;
  if (free > 0) return tn("app.slot.free", free);
  return t("app.slot.full");
}

async function loadSlots() {
  const doctorId = $("doctor").value;
  const day = $("day").value;
  if (!doctorId || !day) {
    state.slotList = null;
    renderSlots();
    return;
  }
  const { slots } = await api.get(`${path`/doctors/${doctorId}/slots`}?date=${encodeURIComponent(day)}`);
  for (const slot of slots) state.slotTimes.set(slot.slotId, { start: slot.start, end: slot.end });
  state.slotList = { doctorId, day, slots };
  renderSlots();
}

function renderSlots() {
  if (!state.slotList) {
    $("slots").replaceChildren();
    $("slots-heading").textContent = "";
    return;
  }
  const { doctorId, day, slots } = state.slotList;
  const now = Date.now();
  const open = slots.filter((s) => new Date(s.end).getTime() > now);
  const doctor = doctorText(doctorId);
  const noon = `${day}T12:00:00`;
  $("slots-heading").textContent = open.length
    ? tn("app.slots.heading", open.length, { doctor, day: dayWords(noon) })
    : t(isToday(noon) ? "app.slots.noneToday" : "app.slots.noneThatDay", { doctor });
  $("slots").replaceChildren(
    ...open.map((s) => {
      const free = s.available?.STANDARD ?? 0;
      const time = hhmm(s.start);
      const button = s.closed
        ? null
        : free > 0
          ? el("button", { type: "button", dataset: { action: "book", slotId: s.slotId }, "aria-label": t("app.slot.bookLabel", { time }) }, t("app.slot.book"))
          : el("button", { type: "button", className: "secondary", dataset: { action: "waitlist", slotId: s.slotId }, "aria-label": t("app.slot.waitlistLabel", { time }) }, t("app.slot.waitlist"));
      return el(
        "li",
        { dataset: { slotId: s.slotId } },
        el("span", {}, el("strong", {}, `${hhmm(s.start)}–${hhmm(s.end)}`), " · ", placesWords(s), s.delayed ? ` · ${t("app.slot.late", { minutes: s.delayMinutes })}` : ""),
        button,
      );
    }),
  );
}

async function book(slotId, waitlist) {
  // One key per booking the patient asked for: a resend after a lost answer gets the first answer back.
  const pending = state.pending;
  const key = pending && pending.slotId === slotId && pending.waitlist === waitlist ? pending.key : uuid();
  state.pending = { slotId, waitlist, key };
  const body = { slotId, patientId: state.session.patientId, source: "ONLINE", phone: state.session.phone };
  if (waitlist) body.waitlist = true;
  if (BOOKING_LANGUAGE) body.language = currentLanguage();
  try {
    const b = await api.post("/bookings", body, { headers: { "idempotency-key": key } });
    state.pending = null;
    state.seen.set(b.bookingId, b.status);
    say(() =>
      b.status === "WAITLISTED"
        ? t("app.booked.waitlist", { n: b.waitlistPosition })
        : t("app.booked.token", { token: b.token, doctor: doctorText(b.doctorId), time: slotWords(b.slotId) }),
    );
  } catch (err) {
    const unsure = err instanceof ApiError && (err.network || err.status >= 500 || err.status === 429 || err.code === "IDEMPOTENCY_CONFLICT");
    if (!unsure) state.pending = null;
    throw err;
  }
}

// ---- dialogs -------------------------------------------------------------------------------------
function confirmAction(title, text, yes) {
  const dialog = $("confirm-dialog");
  $("confirm-heading").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function cancelBooking(b) {
  const kind = b.token == null ? "waitlist" : "token";
  const values = () => ({ token: b.token, doctor: doctorText(b.doctorId) });
  const ok = await confirmAction(t("app.cancelAsk.heading"), t(`app.cancelAsk.${kind}`, values()), t("app.cancelAsk.yes"));
  if (!ok) return;
  const done = await api.post(path`/bookings/${b.bookingId}/cancel`);
  state.seen.set(done.bookingId, done.status);
  say(() => t(`app.cancelled.${kind}`, values()));
}

async function fillRescheduleSlots(b) {
  const day = $("reschedule-day").value;
  const select = $("reschedule-slot");
  select.replaceChildren();
  if (!day) return;
  const { slots } = await api.get(`${path`/doctors/${b.doctorId}/slots`}?date=${encodeURIComponent(day)}`);
  const now = Date.now();
  const choices = slots.filter((s) => s.slotId !== b.slotId && !s.closed && new Date(s.end).getTime() > now && (s.available?.STANDARD ?? 0) > 0);
  select.append(...choices.map((s) => el("option", { value: s.slotId }, `${hhmm(s.start)}–${hhmm(s.end)} · ${placesWords(s)}`)));
  if (!choices.length) select.append(el("option", { value: "" }, t("app.reschedule.none")));
}

async function rescheduleBooking(b) {
  const dialog = $("reschedule-dialog");
  $("reschedule-text").textContent = t("app.reschedule.text", { token: b.token, doctor: doctorText(b.doctorId) });
  const day = $("reschedule-day");
  day.min = todayStr();
  day.max = todayStr(new Date(Date.now() + DAYS_AHEAD * 86400000));
  day.value = todayStr(new Date(state.slotTimes.get(b.slotId)?.start || Date.now()));
  day.onchange = () => fillRescheduleSlots(b).catch(fail);
  await fillRescheduleSlots(b);
  const chosen = await new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes" ? $("reschedule-slot").value : ""), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
  if (!chosen) return;
  const moved = await api.post(path`/bookings/${b.bookingId}/reschedule`, { slotId: chosen }, { headers: { "idempotency-key": uuid() } });
  state.seen.set(moved.bookingId, moved.status);
  say(() => t("app.moved", { token: moved.token, doctor: doctorText(moved.doctorId), time: slotWords(moved.slotId) }));
}

// ---- refreshing ------------------------------------------------------------------------------------
async function busy(button, work) {
  if (state.busy) return; // a second tap while the first is on its way sends nothing
  state.busy = true;
  if (button) button.disabled = true;
  showError(null);
  try {
    await work();
  } catch (err) {
    fail(err);
  } finally {
    state.busy = false;
    if (button) button.disabled = false;
  }
}

async function loadBookings() {
  const { bookings } = await api.get(path`/patients/${state.session.patientId}/bookings`);
  // A Booking names its slot, not its time: each slot is read once (a slot's time never changes).
  const unknown = [...new Set(bookings.map((b) => b.slotId))].filter((id) => !state.slotTimes.has(id));
  const read = await Promise.all(unknown.map((id) => api.get(path`/slots/${id}`).catch(() => null)));
  for (const slot of read) if (slot) state.slotTimes.set(slot.slotId, { start: slot.start, end: slot.end });
  announceChanges(bookings);
  state.bookings = bookings;
  renderBookings();
}

async function refresh(withSlots = false) {
  clearTimeout(timer);
  if (!state.session) return;
  const dialogOpen = $("confirm-dialog").open || $("reschedule-dialog").open;
  if (!state.busy && !dialogOpen && state.patient?.name) {
    try {
      await loadBookings();
      state.ticks += 1;
      if (withSlots || state.ticks % SLOTS_EVERY === 0) await loadSlots();
    } catch (err) {
      fail(err);
    }
  }
  if (state.session && !document.hidden) timer = setTimeout(() => refresh(), POLL_MS);
}

async function start() {
  show();
  try {
    state.patient = await api.get(path`/patients/${state.session.patientId}`);
  } catch (err) {
    fail(err);
    return;
  }
  show();
  if (!state.patient.name) {
    $("name").focus();
    return;
  }
  await ready();
}

// A signed-in patient with a name: the directory for booking, then their bookings and the slots.
async function ready() {
  show();
  try {
    await loadDirectory();
  } catch (err) {
    fail(err);
  }
  await refresh(true);
}

// ---- wiring ---------------------------------------------------------------------------------------
function wire() {
  $("phone-form").addEventListener("submit", sendCode);
  $("new-code").addEventListener("click", () => sendCode());
  $("code-form").addEventListener("submit", verifyCode);
  $("name-form").addEventListener("submit", saveName);
  $("signout").addEventListener("click", () => signOut());
  $("department").addEventListener("change", () => {
    fillDoctors();
    loadSlots().catch(fail);
  });
  $("doctor").addEventListener("change", () => loadSlots().catch(fail));
  $("day").addEventListener("change", () => loadSlots().catch(fail));
  $("slots").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    busy(button, async () => {
      await book(button.dataset.slotId, button.dataset.action === "waitlist");
      await loadBookings();
      await loadSlots();
    });
  });
  $("bookings").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const b = state.bookings.find((x) => x.bookingId === button.dataset.bookingId);
    if (!b) return;
    const action = button.dataset.action === "cancel" ? cancelBooking : rescheduleBooking;
    busy(button, async () => {
      await action(b);
      await loadBookings();
      await loadSlots();
    });
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) refresh(true);
  });
}

// Another language from the switch: the page's own texts, then everything written from data, again.
function retranslate() {
  translatePage();
  if (state.said) $("message").textContent = state.said();
  if (state.failed) $("error").textContent = state.failed();
  if (state.doctors.size) fillDoctors();
  renderBookings();
  renderSlots();
}

async function main() {
  await useLanguage(chosenLanguage());
  translatePage();
  languageSwitch($("lang-switch"), retranslate);
  const cfg = await loadConfig();
  // The patient's token goes to the configured API only, never to a host named in a link.
  api = createClient({
    base: resolveApiBase({ configBase: cfg.apiBase, allowForeignParam: false }),
    getToken: () => state.session?.token,
  });
  wire();
  const today = todayStr();
  $("day").min = today;
  $("day").max = todayStr(new Date(Date.now() + DAYS_AHEAD * 86400000));
  $("day").value = today;
  state.session = loadSession();
  show();
  if (state.session) await start();
  else $("phone").focus();
}

main();
