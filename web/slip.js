// A token slip for thermal paper (slip.html), printed from the desk:
//   slip.html?booking=<bookingId>[&paper=58|80][&print=0]
//   slip.html?counter=<counterId>&date=<YYYY-MM-DD>&number=<n>[&paper=58|80][&print=0]
// It shows the hospital's name (config.json hospitalName), the token or label in large type, the doctor's name
// and room (GET /doctors/{id}; the id where none is recorded) or the counter's name (GET /boards/counters/{id}),
// the day and time, the expected call (bookings) and a QR code of the booking's status link
// (<this folder>/status.html#<statusCode>, what status.html reads), drawn with the vendored qrcode-generator.
// Then it opens the browser's print dialog, unless ?print=0. Times are the browser's, as the desk shows them.
//
// The booking and the counter's queue are read with the desk's staff token (sessionStorage: a window the desk
// opens gets a copy of it). The page itself keeps nothing.
//
// Hooks for browser tests: body[data-state=loading|ready|error], body.paper-58|paper-80, #message (role=status),
// #slip, #hospital, #kind, #token, #place, #room, #when, #estimate, #qr (an SVG), #printed, #print, #close.
import { ApiError, createClient, describeError, loadConfig, path, resolveApiBase } from "./api.js";
import * as auth from "./auth.js";
import { $, hhmm, todayStr } from "./ui.js";
import qrcode from "./vendor/qrcode-generator.js";

const ID = /^[A-Za-z0-9._:-]{1,64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const SVG = "http://www.w3.org/2000/svg";
const QUIET = 4; // modules of white around the code, as the QR standard asks
const PAPER_MM = { 58: 58, 80: 80 };
const DONE = { COMPLETED: "completed", CANCELLED: "cancelled", NO_SHOW: "marked no-show", SERVED: "served", EXPIRED: "expired" };

const params = new URLSearchParams(location.search);
const paper = params.get("paper") === "80" ? 80 : 58;

// "Tue 8 Dec 2026" (a date or an instant, in the browser's zone).
const dayWords = (d) => `${d.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short" })} ${d.getFullYear()}`;
const dayOf = (iso) => dayWords(new Date(iso));
// "09:40", or "Wed 9 Dec 09:40" when it is not today.
function when(iso) {
  const time = hhmm(iso);
  if (!time) return "";
  const d = new Date(iso);
  return todayStr(d) === todayStr() ? time : `${d.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short" })} ${time}`;
}

class SlipError extends Error {}

function show(id, text) {
  const node = $(id);
  node.textContent = text || "";
  node.hidden = !text;
}

// The QR code as SVG squares (crisp on a 203 dpi print head at any size), built with DOM calls: no markup.
export function drawQr(svg, text) {
  const qr = qrcode(0, "M"); // the smallest version that holds the text; M: 15 % of it may be smudged
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const size = n + 2 * QUIET;
  let d = "";
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) if (qr.isDark(r, c)) d += `M${c + QUIET} ${r + QUIET}h1v1h-1z`;
  }
  const back = document.createElementNS(SVG, "rect");
  back.setAttribute("width", String(size));
  back.setAttribute("height", String(size));
  back.setAttribute("fill", "#fff");
  const dots = document.createElementNS(SVG, "path");
  dots.setAttribute("d", d);
  dots.setAttribute("fill", "#000");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.replaceChildren(back, dots);
}

// The status page's address for a code: beside this page, as the SMS link is beside the status page.
export const statusUrl = (code) => new URL(`status.html#${encodeURIComponent(code)}`, location.href).href;

// ---- the two kinds of slip -------------------------------------------------------------------
async function bookingSlip(api, id) {
  const b = await api.get(path`/bookings/${id}`);
  if (DONE[b.status]) throw new SlipError(`${b.token != null ? `Token ${b.token}` : "This booking"} is ${DONE[b.status]}: no slip to print`);
  // The slot's time and the doctor's record are extras: a slip still prints without them.
  const [slot, doctor] = await Promise.allSettled([api.get(path`/slots/${b.slotId}`), api.get(path`/doctors/${b.doctorId}`)]);
  const s = slot.status === "fulfilled" ? slot.value : null;
  const d = doctor.status === "fulfilled" ? doctor.value : null;
  const waitlisted = b.status === "WAITLISTED";
  return {
    kind: waitlisted ? `OPD waitlist, place ${b.waitlistPosition ?? "?"}` : "OPD token",
    token: b.token == null ? "–" : String(b.token),
    title: b.token == null ? "Waitlist slip" : `Token ${b.token}`,
    place: d?.name || b.doctorId,
    room: d?.room ? `Room ${d.room}` : "",
    when: s ? `${dayOf(s.start)}, ${hhmm(s.start)}–${hhmm(s.end)}` : b.createdAt ? `Booked ${dayOf(b.createdAt)}` : "",
    estimate: b.estimatedCallAt && b.status !== "CALLED" ? `Expected call about ${when(b.estimatedCallAt)}` : b.status === "CALLED" ? "Called: please go in now" : "",
    qr: b.statusCode ? statusUrl(b.statusCode) : null,
  };
}

async function counterSlip(api, counter, date, number) {
  // The queue (staff) gives the label and its times; the board (public) the counter's name.
  const [queue, board] = await Promise.allSettled([
    api.get(path`/counters/${counter}/queue` + `?date=${encodeURIComponent(date)}`),
    api.get(path`/boards/counters/${counter}` + `?date=${encodeURIComponent(date)}`),
  ]);
  if (queue.status === "rejected") throw queue.reason;
  const tokens = Array.isArray(queue.value?.tokens) ? queue.value.tokens : [];
  const token = tokens.find((x) => x.number === number);
  if (!token) throw new SlipError(`No token ${number} at this counter on ${date}`);
  if (DONE[token.status]) throw new SlipError(`Token ${token.label} is ${DONE[token.status]}: no slip to print`);
  const name = board.status === "fulfilled" && typeof board.value?.name === "string" && board.value.name.trim() ? board.value.name.trim() : counter;
  return {
    kind: "Registration token",
    token: String(token.label || number),
    title: `Token ${token.label || number}`,
    place: name,
    room: "",
    when: token.createdAt ? `Issued ${dayOf(token.createdAt)}, ${hhmm(token.createdAt)}` : dayWords(new Date(`${date}T12:00:00`)),
    estimate: token.status === "CALLED" ? "Called: please come to the counter" : "",
    qr: null,
  };
}

// What the address asks for, or a SlipError saying what is wrong with it.
function request() {
  const booking = params.get("booking");
  if (booking !== null) {
    if (!ID.test(booking)) throw new SlipError("This slip's address names no valid booking: print it again from the desk");
    return (api) => bookingSlip(api, booking);
  }
  const counter = params.get("counter");
  const date = params.get("date") || todayStr();
  const number = Number(params.get("number"));
  if (counter === null || !ID.test(counter) || !DATE.test(date) || !Number.isInteger(number) || number < 1) {
    throw new SlipError("This slip's address names no booking or counter token: print it again from the desk");
  }
  return (api) => counterSlip(api, counter, date, number);
}

// ---- the page --------------------------------------------------------------------------------
function render(hospital, slip) {
  show("hospital", hospital);
  show("kind", slip.kind);
  $("token").textContent = slip.token;
  $("token").classList.toggle("is-long", slip.token.length > 4);
  show("place", slip.place);
  show("room", slip.room);
  show("when", slip.when);
  show("estimate", slip.estimate);
  $("qr-box").hidden = !slip.qr;
  if (slip.qr) drawQr($("qr"), slip.qr);
  const now = new Date();
  show("printed", `Printed ${dayWords(now)}, ${hhmm(now.toISOString())}`);
  document.title = `${slip.title}: slip`;
  $("slip").hidden = false;
}

// The printed page as long as the slip and no longer: a thermal printer feeds and cuts at the page's end.
// (CSSOM, not a <style> element: the pages' policy allows no inline style.)
function fitPage() {
  const sheet = [...document.styleSheets].find((s) => s.href?.endsWith("slip.css"));
  if (!sheet) return;
  const mm = Math.ceil($("slip").getBoundingClientRect().height / (96 / 25.4)) + 2;
  try {
    sheet.insertRule(`@page { size: ${PAPER_MM[paper]}mm ${mm}mm; margin: 0; }`, sheet.cssRules.length);
  } catch {
    /* the stylesheet's own @page stays */
  }
}

function fail(err) {
  let text;
  if (err instanceof SlipError) text = err.message;
  else if (err instanceof ApiError && err.status === 401) text = "Signed out: sign in at the desk, then print the slip again";
  else text = `The slip could not be made: ${describeError(err).text}`;
  $("message").textContent = text;
  document.body.dataset.state = "error";
}

async function main() {
  document.body.classList.replace("paper-58", `paper-${paper}`);
  $("close").addEventListener("click", () => window.close());
  $("print").addEventListener("click", () => window.print());
  try {
    const make = request();
    const cfg = await loadConfig();
    const api = createClient({
      base: resolveApiBase({ configBase: cfg.apiBase, allowForeignParam: false }), // a staff token: never to another host
      getToken: () => auth.currentSession()?.token,
    });
    const slip = await make(api);
    render(cfg.hospitalName || "OPD", slip);
    await document.fonts?.ready;
    fitPage();
    $("message").textContent = `${slip.title} ready on ${paper} mm paper`;
    $("print").hidden = false;
    document.body.dataset.state = "ready";
    if (params.get("print") !== "0") {
      await new Promise((done) => requestAnimationFrame(() => done()));
      window.print();
    }
  } catch (err) {
    fail(err);
  }
}

main();
