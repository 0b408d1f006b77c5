// The administrators' daily reports (reports.html), against shared/api-contract.md version 3, "Reports".
//
// Reads GET /reports/daily only (JSON for the table and the charts; the same query with Accept: text/csv for the
// download). Signs in as the desk does (auth.js: the session the desk keeps in sessionStorage is this page's too);
// a role other than admin is told the reports are for admins, and nothing is asked of the API.
//
// Hooks for browser tests:
//   sign-in   #signin-role, #signin-user, #signin; deployed: #signin-desk-box (sign in at the desk); #signout;
//             #whoami; body[data-role]; #admins-only (a signed-in role that is not admin)
//   query     #from, #to (YYYY-MM-DD), #doctor (doctor id, + #doctor-list), #department (+ #department-list),
//             #show (submit), #download-csv (saves reports-<from>-<to>.csv)
//   table     #days-body tr[data-date][data-doctor-id], cells td[data-figure=<the JSON's dotted name>]
//             ("cancelled" is the total of every reason); a figure not measured: td[data-null]
//   charts    canvas#waits-chart, #tiers-chart, #use-chart (body[data-charts=drawn|none|unavailable]); their
//             numbers in #waits-body, #tiers-body, #use-body
//   feedback  #status (role=status), #messages (role=alert, VALIDATION_ERROR details as li[data-field])
// The address keeps the query (?from=&to=&doctor=&department=), so a reload shows the same days.
import { ApiError, createClient, describeError, loadConfig, resolveApiBase } from "./api.js";
import * as auth from "./auth.js";
import { $, el, todayStr } from "./ui.js";

const MAX_DAYS = 92; // the contract's longest report, both ends counted
const DEFAULT_DAYS = 7;
const CHART_DOCTORS = 8; // lines of more doctors than this are not told apart; the table has them all
const CSV_TIMEOUT_MS = 20000;
const DAY_MS = 86400000;
const TIERS = [
  ["STANDARD", "Standard"],
  ["PREMIUM", "Premium"],
  ["CRITICAL", "Critical"],
];
const REASON_WORDS = {
  PATIENT: "patient",
  STAFF: "staff",
  RESCHEDULED: "rescheduled",
  DOCTOR_UNAVAILABLE: "doctor away",
  WAITLIST_EXPIRED: "waitlist expired",
};
// The table's figures after who and when: [the JSON's dotted name, minutes (one decimal) or a count].
const FIGURES = [
  ["slots", "count"],
  ["capacity", "count"],
  ["places", "count"],
  ["consultations", "count"],
  ["noShows", "count"],
  ["cancelled", "cancelled"],
  ["waitlist.joined", "count"],
  ["waitlist.promoted", "count"],
  ["waitlist.expired", "count"],
  ["waitMinutes.median", "minutes"],
  ["waitMinutes.p90", "minutes"],
  ["consultMinutes.median", "minutes"],
  ["consultMinutes.p90", "minutes"],
  ["firstCallLateMinutes", "minutes"],
  ["sms", "count"],
];
// Series told apart without colour: each doctor a marker of their own (and a colour that is also a shade of
// grey of its own), the median a solid line, the 90th percentile a dashed one with hollow markers.
const MARKERS = ["circle", "triangle", "rect", "rectRot", "star", "crossRot", "rectRounded", "cross"];
const COLOURS = ["#0b4f9c", "#a4161a", "#1e6b34", "#6b3fa0", "#8a4b00", "#00606b", "#3d3d3d", "#a0306a"];
const INK = "#111";
const GRID = "#d0d3d9";

const state = {
  cfg: null,
  session: null,
  refused: false, // the API answered 403: this session's token is not an admin's, whatever its role says
  rows: [], // the days shown (GET /reports/daily's `days`)
  charts: [], // the Chart.js charts drawn, destroyed before the next draw
  doctors: new Map(), // doctorId -> "name · department", of every day shown so far (the filter's list)
  departments: new Set(),
};
let api;

// ---- words and numbers ------------------------------------------------------------------------
const dayMs = (iso) => {
  const [y, m, d] = iso.split("-").map(Number);
  return Date.UTC(y, m - 1, d);
};
const isoOf = (ms) => new Date(ms).toISOString().slice(0, 10);
const daysCounted = (from, to) => Math.round((dayMs(to) - dayMs(from)) / DAY_MS) + 1;
// "Mon 1 Dec" ("Mon 1 Dec 2025" in another year than this one).
function dayWords(iso) {
  const ms = dayMs(iso);
  const options = { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" };
  if (new Date(ms).getUTCFullYear() !== new Date().getFullYear()) options.year = "numeric";
  return new Date(ms).toLocaleDateString("en-GB", options);
}
const valueAt = (row, name) => name.split(".").reduce((v, part) => (v == null ? v : v[part]), row);
const cancelledTotal = (row) => Object.values(row.cancelled || {}).reduce((a, n) => a + (Number(n) || 0), 0);
const minutesText = (v) => Number(v).toFixed(1);
const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const notMeasured = () => [el("span", { "aria-hidden": "true" }, "–"), el("span", { className: "visually-hidden" }, "not measured")];

// ---- feedback (as the desk's) -------------------------------------------------------------------
function ok(text) {
  $("messages").replaceChildren();
  $("status").textContent = text;
}

const FIELDS = { from: "from", to: "to", doctorId: "doctor", department: "department" };

function fail(err, { prefix = "" } = {}) {
  if (err instanceof ApiError && err.status === 401) signedOut();
  if (err instanceof ApiError && err.status === 403) return showAdminsOnly({ refused: true });
  const { text, details } = describeError(err);
  const children = [el("p", {}, prefix ? `${prefix}: ${text}` : text)];
  if (details.length) {
    children.push(el("ul", {}, ...details.map((d) => el("li", { dataset: { field: d.field } }, d.field ? `${d.field}: ${d.message}` : d.message))));
    const inputs = details.map((d) => $(FIELDS[d.field] || d.field)).filter((i) => i instanceof HTMLInputElement);
    inputs.forEach((i) => i.setAttribute("aria-invalid", "true"));
    inputs[0]?.focus();
  }
  $("messages").replaceChildren(...children);
  $("status").textContent = "";
}

function invalid(details) {
  fail(new ApiError({ status: 400, code: "VALIDATION_ERROR", message: "Please correct the dates or the filter", details }));
}

// Runs one request: its button busy (aria-disabled keeps keyboard focus on it), failures in words.
async function run(button, fn, opts) {
  if (button.getAttribute("aria-disabled") === "true") return;
  button.setAttribute("aria-disabled", "true");
  try {
    await fn();
  } catch (err) {
    fail(err, opts);
  } finally {
    button.removeAttribute("aria-disabled");
  }
}

// ---- sign-in ------------------------------------------------------------------------------------
function showSignedIn() {
  const s = state.session;
  const admin = s?.role === "admin" && !state.refused;
  $("signin-section").hidden = !!s;
  $("main").hidden = !admin;
  $("admins-only").hidden = !s || admin;
  $("signout").hidden = !s;
  $("whoami").textContent = s ? `${s.user} (${s.role})` : "Not signed in";
  document.body.dataset.role = s ? s.role : "";
  const cognito = !!state.cfg.cognitoDomain;
  $("signin-form").hidden = cognito;
  $("signin-desk-box").hidden = !cognito;
}

// A role other than admin, or an answer 403 (the API enforces roles; the role shown is the sign-in's).
function showAdminsOnly({ refused = false, focus = true } = {}) {
  const s = state.session;
  state.refused = refused;
  showSignedIn();
  const who = s ? `${s.user} (${s.role})` : "";
  $("admins-only-text").textContent = refused
    ? `The service refused the reports to ${who}: only administrators may read them.`
    : `You are signed in as ${who}. The daily reports show every doctor's figures, so only administrators may read them.`;
  $("messages").replaceChildren();
  $("status").textContent = "";
  if (focus) $("admins-only-heading").focus(); // after a sign-in or a refusal here; not on opening the page
}

function signedOut() {
  auth.signOut();
  state.session = null;
  state.refused = false;
  showSignedIn();
}

async function signInLocal(e) {
  e.preventDefault();
  const user = $("signin-user").value.trim();
  $("signin-user").removeAttribute("aria-invalid");
  if (!user) {
    $("signin-user").setAttribute("aria-invalid", "true");
    $("signin-user").focus();
    return fail(new ApiError({ status: 400, code: "VALIDATION_ERROR", message: "Please correct the form", details: [{ field: "Username", message: "Please fill in this field." }] }));
  }
  await run($("signin"), async () => {
    state.session = await auth.signInLocal(api, $("signin-role").value, user);
    ok(`Signed in as ${user} (${state.session.role})`);
    afterSignIn({ focus: true });
  }, { prefix: "Sign-in failed" });
}

function afterSignIn({ focus = false } = {}) {
  showSignedIn();
  if (state.session.role !== "admin") return showAdminsOnly({ focus });
  load();
}

// ---- the query ----------------------------------------------------------------------------------
// The form's query, checked as the service checks it; null (and the fields marked, in words) when it is not valid.
function readQuery() {
  for (const id of ["from", "to", "doctor", "department"]) $(id).removeAttribute("aria-invalid");
  const q = { from: $("from").value, to: $("to").value, doctorId: $("doctor").value.trim(), department: $("department").value.trim() };
  const details = [];
  if (!q.from) details.push({ field: "from", message: "give the first day (YYYY-MM-DD)" });
  if (!q.to) details.push({ field: "to", message: "give the last day (YYYY-MM-DD)" });
  if (q.from && q.to) {
    const n = daysCounted(q.from, q.to);
    if (n < 1) details.push({ field: "to", message: "must not be before From" });
    else if (n > MAX_DAYS) details.push({ field: "to", message: `at most ${MAX_DAYS} days from From, both counted (this is ${n} days)` });
  }
  if (q.doctorId && !$("doctor").validity.valid) details.push({ field: "doctorId", message: $("doctor").dataset.hint });
  if (details.length) {
    invalid(details);
    return null;
  }
  return q;
}

function queryString(q) {
  const params = new URLSearchParams({ from: q.from, to: q.to });
  if (q.doctorId) params.set("doctorId", q.doctorId);
  if (q.department) params.set("department", q.department);
  return params.toString();
}

function keepInAddress(q) {
  const params = new URLSearchParams({ from: q.from, to: q.to });
  if (q.doctorId) params.set("doctor", q.doctorId);
  if (q.department) params.set("department", q.department);
  history.replaceState(null, "", `${location.pathname}?${params}`);
}

function whatWasAsked(q) {
  const who = [q.doctorId && `doctor ${q.doctorId}`, q.department && `department ${q.department}`].filter(Boolean);
  return `${dayWords(q.from)} to ${dayWords(q.to)}${who.length ? `, ${who.join(", ")}` : ", every doctor"}`;
}

async function load(e) {
  e?.preventDefault();
  const q = readQuery();
  if (!q) return;
  await run($("show"), async () => {
    const answer = await api.get(`/reports/daily?${queryString(q)}`);
    state.rows = Array.isArray(answer?.days) ? answer.days : [];
    keepInAddress(q);
    remember(state.rows);
    showTable(q);
    drawCharts(q);
    const doctors = new Set(state.rows.map((r) => r.doctorId)).size;
    const days = new Set(state.rows.map((r) => r.date)).size;
    ok(state.rows.length
      ? `${plural(state.rows.length, "day report")} (${plural(days, "day")}, ${plural(doctors, "doctor")}): ${whatWasAsked(q)}`
      : `No day reports for ${whatWasAsked(q)}`);
  }, { prefix: "Could not read the reports" });
}

// The doctors and departments of the days shown so far, offered in the filter's lists.
function remember(rows) {
  for (const r of rows) {
    state.doctors.set(r.doctorId, [r.doctorName, r.department].filter(Boolean).join(" · "));
    if (r.department) state.departments.add(r.department);
  }
  const byName = [...state.doctors].sort((a, b) => a[1].localeCompare(b[1]));
  $("doctor-list").replaceChildren(...byName.map(([id, words]) => el("option", { value: id, label: words })));
  $("department-list").replaceChildren(...[...state.departments].sort().map((d) => el("option", { value: d })));
}

// ---- the table ----------------------------------------------------------------------------------
function figureCell(row, [name, kind]) {
  if (kind === "cancelled") {
    const total = cancelledTotal(row);
    const reasons = Object.entries(row.cancelled || {}).filter(([, n]) => n > 0);
    const hint = reasons.length ? el("span", { className: "reasons" }, reasons.map(([r, n]) => `${REASON_WORDS[r] || r.toLowerCase()} ${n}`).join(", ")) : null;
    return el("td", { className: "num", dataset: { figure: name } }, String(total), hint);
  }
  const v = valueAt(row, name);
  if (v == null) return el("td", { className: "num", dataset: { figure: name, null: "" } }, ...notMeasured());
  return el("td", { className: "num", dataset: { figure: name } }, kind === "minutes" ? minutesText(v) : String(v));
}

function showTable(q) {
  const rows = state.rows.map((r) =>
    el(
      "tr",
      { dataset: { date: r.date, doctorId: r.doctorId } },
      el("th", { scope: "row", className: "day" }, el("time", { datetime: r.date }, dayWords(r.date))),
      el("td", { className: "doctor" }, r.doctorName, el("span", { className: "doctor-id" }, r.doctorId)),
      el("td", { className: "department" }, ...(r.department ? [r.department] : notMeasured())),
      ...FIGURES.map((f) => figureCell(r, f)),
    ),
  );
  if (!rows.length) {
    const none = "No day reports for these days: a day is reported once all its slots have ended and the sweeper has run.";
    rows.push(el("tr", {}, el("td", { colspan: String(FIGURES.length + 3), className: "empty" }, none)));
  }
  $("days-body").replaceChildren(...rows);
  $("days-caption").textContent = `${plural(state.rows.length, "day report")}, ${whatWasAsked(q)}`;
}

// ---- the charts ---------------------------------------------------------------------------------
// A hatch of `colour` on white: the "capacity" and "places" bars are told from the solid ones without colour.
function hatch(colour) {
  const tile = document.createElement("canvas");
  tile.width = 8;
  tile.height = 8;
  const g = tile.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, 8, 8);
  g.strokeStyle = colour;
  g.lineWidth = 2;
  g.beginPath();
  for (const [x0, y0, x1, y1] of [[0, 8, 8, 0], [-4, 4, 4, -4], [4, 12, 12, 4]]) {
    g.moveTo(x0, y0);
    g.lineTo(x1, y1);
  }
  g.stroke();
  return g.createPattern(tile, "repeat");
}

function baseOptions(yTitle, xTitle) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false, // drawn at once: nothing moves, and what is shown is final
    interaction: { mode: "nearest", intersect: false },
    scales: {
      x: { title: { display: true, text: xTitle, color: INK }, ticks: { color: INK }, grid: { color: GRID } },
      y: { beginAtZero: true, title: { display: true, text: yTitle, color: INK }, ticks: { color: INK, precision: 0 }, grid: { color: GRID } },
    },
    plugins: {
      legend: { position: "bottom", labels: { color: INK, usePointStyle: true, boxHeight: 10, padding: 14 } },
      tooltip: { enabled: true },
    },
  };
}

function drawCharts(q) {
  for (const chart of state.charts) chart.destroy();
  state.charts = [];
  const Chart = window.Chart;
  const rows = state.rows;
  const days = [...new Set(rows.map((r) => r.date))].sort();
  fillChartTables(rows, days);
  document.querySelector(".charts").hidden = !rows.length;
  if (!rows.length) {
    document.body.dataset.charts = "none";
    $("charts-note").textContent = `Nothing to draw for ${whatWasAsked(q)}.`;
    return;
  }
  if (typeof Chart !== "function") {
    document.body.dataset.charts = "unavailable";
    $("charts-note").textContent = "The charts could not be loaded: their numbers are in the tables under each one.";
    return;
  }
  Chart.defaults.font.family = 'system-ui, "Segoe UI", Roboto, "Noto Sans", Arial, sans-serif';
  Chart.defaults.font.size = 13;
  Chart.defaults.color = INK;
  const labels = days.map(dayWords);
  const doctors = chartDoctors(rows);
  const more = new Set(rows.map((r) => r.doctorId)).size - doctors.length;
  $("charts-note").textContent = more > 0
    ? `The waits chart shows ${CHART_DOCTORS} doctors (${plural(more, "more doctor")} in the table): pick a doctor or a department to see others.`
    : "";

  // Waits by doctor over the days: a median line and a p90 line per doctor.
  const at = new Map(rows.map((r) => [`${r.doctorId}|${r.date}`, r]));
  const waits = doctors.flatMap(([id, name], i) => {
    const colour = COLOURS[i % COLOURS.length];
    const marker = MARKERS[i % MARKERS.length];
    const series = (measure) => days.map((d) => at.get(`${id}|${d}`)?.waitMinutes?.[measure] ?? null);
    const line = { borderColor: colour, pointStyle: marker, pointRadius: 5, pointHoverRadius: 7, spanGaps: false };
    return [
      { ...line, label: `${name}: median`, data: series("median"), backgroundColor: colour, borderWidth: 3 },
      { ...line, label: `${name}: p90`, data: series("p90"), backgroundColor: "#fff", pointBackgroundColor: "#fff", borderWidth: 2, borderDash: [7, 5] },
    ];
  });
  const waitOptions = baseOptions("Minutes from check-in to call", "Day");
  waitOptions.scales.y.ticks.precision = undefined;
  state.charts.push(new Chart($("waits-chart"), { type: "line", data: { labels, datasets: waits }, options: waitOptions }));

  // No-shows by tier: places given (hatched) and no-shows (solid), summed over the rows.
  const tiers = tierTotals(rows);
  state.charts.push(
    new Chart($("tiers-chart"), {
      type: "bar",
      data: {
        labels: TIERS.map(([, words]) => words),
        datasets: [
          { label: "Places given", data: tiers.map((t) => t.places), backgroundColor: hatch("#0b4f9c"), borderColor: "#0b4f9c", borderWidth: 2 },
          { label: "No-shows", data: tiers.map((t) => t.noShows), backgroundColor: "#111", borderColor: "#111", borderWidth: 2 },
        ],
      },
      options: { ...baseOptions("Bookings", "Tier"), plugins: { ...baseOptions().plugins, legend: { position: "bottom", labels: { color: INK, padding: 14 } } } },
    }),
  );

  // Places used against capacity: per day, every place the slots had (hatched) and the places given (solid).
  const use = dayTotals(rows, days);
  state.charts.push(
    new Chart($("use-chart"), {
      type: "bar",
      data: {
        labels,
        datasets: [
          { label: "Capacity", data: use.map((u) => u.capacity), backgroundColor: hatch("#555"), borderColor: "#333", borderWidth: 2 },
          { label: "Places given", data: use.map((u) => u.places), backgroundColor: "#0b4f9c", borderColor: "#0b4f9c", borderWidth: 2 },
        ],
      },
      options: { ...baseOptions("Places", "Day"), plugins: { ...baseOptions().plugins, legend: { position: "bottom", labels: { color: INK, padding: 14 } } } },
    }),
  );
  document.body.dataset.charts = "drawn";
}

// [doctorId, name] of the doctors the waits chart draws: the first CHART_DOCTORS by name.
function chartDoctors(rows) {
  const names = new Map(rows.map((r) => [r.doctorId, r.doctorName]));
  return [...names].sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0])).slice(0, CHART_DOCTORS);
}

function tierTotals(rows) {
  return TIERS.map(([tier]) => ({
    places: rows.reduce((n, r) => n + (r.byTier?.[tier]?.places || 0), 0),
    noShows: rows.reduce((n, r) => n + (r.byTier?.[tier]?.noShows || 0), 0),
  }));
}

function dayTotals(rows, days) {
  return days.map((d) => {
    const of = rows.filter((r) => r.date === d);
    return { capacity: of.reduce((n, r) => n + r.capacity, 0), places: of.reduce((n, r) => n + r.places, 0) };
  });
}

const percent = (part, whole) => (whole ? `${Math.round((100 * part) / whole)} %` : null);
const cell = (v, text = v == null ? null : String(v)) => el("td", { className: "num" }, ...(text == null ? notMeasured() : [text]));

// The charts' numbers, for screen readers and anyone who wants them (each in a <details> under its chart).
function fillChartTables(rows, days) {
  const at = new Map(rows.map((r) => [`${r.doctorId}|${r.date}`, r]));
  $("waits-body").replaceChildren(
    ...chartDoctors(rows).flatMap(([id, name]) =>
      days.filter((d) => at.has(`${id}|${d}`)).map((d) => {
        const w = at.get(`${id}|${d}`).waitMinutes || {};
        return el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, dayWords(d)),
          cell(w.median, w.median == null ? null : minutesText(w.median)), cell(w.p90, w.p90 == null ? null : minutesText(w.p90)));
      }),
    ),
  );
  const tiers = tierTotals(rows);
  $("tiers-body").replaceChildren(
    ...TIERS.map(([, words], i) => el("tr", {}, el("th", { scope: "row" }, words), cell(tiers[i].places), cell(tiers[i].noShows),
      cell(null, percent(tiers[i].noShows, tiers[i].places)))),
  );
  const use = dayTotals(rows, days);
  $("use-body").replaceChildren(
    ...days.map((d, i) => el("tr", {}, el("th", { scope: "row" }, dayWords(d)), cell(use[i].capacity), cell(use[i].places),
      cell(null, percent(use[i].places, use[i].capacity)))),
  );
}

// ---- the CSV ------------------------------------------------------------------------------------
// The same query as CSV (api.js reads JSON only), saved through a link to a Blob: reports-<from>-<to>.csv.
async function fetchCsv(q) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), CSV_TIMEOUT_MS);
  const headers = { accept: "text/csv" };
  if (state.session?.token) headers.authorization = `Bearer ${state.session.token}`;
  let res;
  try {
    res = await fetch(`${api.base}/reports/daily?${queryString(q)}`, { headers, cache: "no-store", signal: ctl.signal });
    if (res.ok) return await res.blob();
  } catch {
    throw new ApiError({ code: "NETWORK", message: "Could not reach the service", network: true });
  } finally {
    clearTimeout(timer);
  }
  let env = {};
  try {
    env = await res.json();
  } catch {
    /* not the error envelope: the status says it */
  }
  const err = env?.error && typeof env.error === "object" ? env.error : {};
  throw new ApiError({
    status: res.status,
    code: err.code || (res.status === 401 ? "UNAUTHORIZED" : `HTTP_${res.status}`),
    message: err.message || env?.message || res.statusText,
    details: err.details,
    retryAfter: Number(res.headers.get("retry-after")) || null,
  });
}

async function downloadCsv() {
  const q = readQuery();
  if (!q) return;
  await run($("download-csv"), async () => {
    const blob = await fetchCsv(q);
    const lines = (await blob.text()).split("\r\n").filter(Boolean).length - 1; // less the header
    const name = `reports-${q.from}-${q.to}.csv`;
    const url = URL.createObjectURL(new Blob([blob], { type: "text/csv;charset=utf-8" }));
    const link = el("a", { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    ok(`Saved ${name}: ${plural(lines, "day report")}, ${whatWasAsked(q)}`);
  }, { prefix: "Could not download the CSV" });
}

// ---- wiring -------------------------------------------------------------------------------------
async function main() {
  state.cfg = await loadConfig();
  // A page that sends staff tokens takes ?api= only when it is same origin or the configured base.
  const base = resolveApiBase({ configBase: state.cfg.apiBase, allowForeignParam: false });
  api = { ...createClient({ base, getToken: () => state.session?.token }), base };

  const q = new URLSearchParams(location.search);
  const date = (v) => (/^\d{4}-\d{2}-\d{2}$/.test(v || "") ? v : "");
  const today = todayStr();
  $("to").value = date(q.get("to")) || today;
  $("from").value = date(q.get("from")) || isoOf(dayMs($("to").value) - (DEFAULT_DAYS - 1) * DAY_MS);
  $("doctor").value = q.get("doctor") || "";
  $("department").value = q.get("department") || "";

  $("signin-form").addEventListener("submit", signInLocal);
  $("signout").addEventListener("click", () => {
    signedOut();
    ok("Signed out");
    if (!state.cfg.cognitoDomain) $("signin-user").focus();
  });
  $("query-form").addEventListener("submit", load);
  $("download-csv").addEventListener("click", downloadCsv);
  document.addEventListener("input", (e) => e.target.removeAttribute?.("aria-invalid"));

  state.session = auth.currentSession();
  showSignedIn();
  if (state.session) afterSignIn();
  else if (!state.cfg.cognitoDomain) $("signin-user").focus();
}

main();
