// The pages' languages (contract, "Languages"): the catalogs i18n-<code>.json (flat JSON: key -> text with
// {placeholder}s), loaded on demand; t(key, values) in the language shown; the browser's choice among them.
//
// A fourth language: its catalog web/i18n-<code>.json (every key of i18n-en.json, same placeholders: the test
// tests/unit/test_web_catalogs.py checks) and one line in LANGUAGES below. The pages offer it in their switch,
// the board takes it in ?lang=.
//
// Digits stay 0-9 in every language: numbers go into texts as String(n), times as hh:mm by hand, and dates
// through Intl with numberingSystem "latn" (a hi or ta locale may otherwise write native digits).

// One line per language: its code, its name in its own script (the switch's button), its name in English (the
// board's note for the staff), the locale of its dates, the voice the board asks for.
export const LANGUAGES = [
  { code: "en", name: "English", english: "English", locale: "en-GB", voice: "en-IN" },
  { code: "hi", name: "हिन्दी", english: "Hindi", locale: "hi-IN", voice: "hi-IN" },
  { code: "ta", name: "தமிழ்", english: "Tamil", locale: "ta-IN", voice: "ta-IN" },
];
export const DEFAULT_LANGUAGE = "en";
const STORE = "opd.lang"; // the patient pages' choice on this device: a language code, nothing else

const catalogs = new Map(); // code -> {key: text}
let current = DEFAULT_LANGUAGE;

export const languageOf = (code) => LANGUAGES.find((l) => l.code === code) || null;

// "hi-IN", "HI", "ta_IN" -> "hi", "ta"; a language of no catalog -> null.
export function known(tag) {
  const code = String(tag || "").trim().toLowerCase().split(/[-_]/)[0];
  return languageOf(code) ? code : null;
}

// The first of the browser's languages that has a catalog, else the default.
export function browserLanguage(tags = navigator.languages?.length ? navigator.languages : [navigator.language]) {
  for (const tag of tags) {
    const code = known(tag);
    if (code) return code;
  }
  return DEFAULT_LANGUAGE;
}

// The patient's own choice on this device (the switch), else the browser's.
export function chosenLanguage() {
  let saved = null;
  try {
    saved = known(localStorage.getItem(STORE));
  } catch {
    /* storage refused (private mode): the browser's language */
  }
  return saved || browserLanguage();
}

export function rememberLanguage(code) {
  try {
    localStorage.setItem(STORE, code);
  } catch {
    /* not kept: the page still switches */
  }
}

async function load(code) {
  if (catalogs.has(code)) return catalogs.get(code);
  let catalog = {};
  try {
    const res = await fetch(`i18n-${code}.json`);
    if (res.ok) catalog = await res.json();
  } catch {
    /* no catalog: English, then the page's own texts */
  }
  catalogs.set(code, catalog && typeof catalog === "object" ? catalog : {});
  return catalogs.get(code);
}

// The catalogs of `codes` (and English, for any key a catalog lacks).
export async function loadLanguages(codes) {
  await Promise.all([...new Set([DEFAULT_LANGUAGE, ...codes])].map(load));
}

// Shows `code` from now on: <html lang>, and t() without a language.
export async function useLanguage(code) {
  const chosen = languageOf(code) ? code : DEFAULT_LANGUAGE;
  await loadLanguages([chosen]);
  current = chosen;
  document.documentElement.lang = chosen;
}

export const currentLanguage = () => current;

function lookup(key, code) {
  for (const c of [code, DEFAULT_LANGUAGE]) {
    const text = catalogs.get(c)?.[key];
    if (typeof text === "string") return text;
  }
  return null;
}

export const has = (key, code = current) => lookup(key, code) !== null;

// The text of `key` with its {placeholder}s filled in (values go in as text; a missing one stays visible).
export function t(key, values = {}, code = current) {
  const text = lookup(key, code) ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (values[name] == null ? whole : String(values[name])));
}

// A count's text: `key.one` or `key.other`, by the language's plural rule; {n} is the count.
export function tn(key, n, values = {}, code = current) {
  let rule = "other";
  try {
    rule = new Intl.PluralRules(languageOf(code)?.locale || code).select(n);
  } catch {
    rule = n === 1 ? "one" : "other";
  }
  const form = lookup(`${key}.${rule}`, code) !== null ? rule : "other";
  return t(`${key}.${form}`, { ...values, n }, code);
}

// "Tue 8 Dec", "मंगल, 8 दिस॰", "செவ்., 8 டிச.": a day in the language, with 0-9 digits.
export function dateWords(date, code = current) {
  const locale = languageOf(code)?.locale || "en-GB";
  const options = { weekday: "short", day: "numeric", month: "short", numberingSystem: "latn" };
  try {
    return new Intl.DateTimeFormat(locale, options).format(date);
  } catch {
    return new Intl.DateTimeFormat("en-GB", options).format(date);
  }
}

// The page's own texts: [data-i18n] (its text), [data-i18n-label] (its aria-label), [data-i18n-placeholder].
// A key no catalog could give (a catalog that did not load) leaves the page's own English as it is.
export function translatePage(root = document) {
  const each = (attr, put) => {
    for (const node of root.querySelectorAll(`[${attr}]`)) {
      const key = node.getAttribute(attr);
      if (has(key)) put(node, t(key));
    }
  };
  each("data-i18n", (node, text) => (node.textContent = text));
  each("data-i18n-label", (node, text) => node.setAttribute("aria-label", text));
  each("data-i18n-placeholder", (node, text) => (node.placeholder = text));
}

// The patient pages' switch: one button per language, named in its own script (with its lang), the shown one
// pressed. onChange(code) after the choice is kept.
export function languageSwitch(container, onChange) {
  const buttons = LANGUAGES.map(({ code, name }) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "lang-button";
    button.lang = code;
    button.dataset.lang = code;
    button.textContent = name;
    button.addEventListener("click", async () => {
      if (code === current) return;
      rememberLanguage(code);
      await useLanguage(code);
      mark();
      onChange(code);
    });
    return button;
  });
  const mark = () => buttons.forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === current)));
  container.replaceChildren(...buttons);
  mark();
  return mark;
}
