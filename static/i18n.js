// Doodle Lab: the page's language for its scripts. base.html writes the catalogue of the
// scripts' messages (game/i18n.py, from game/translations/<locale>) into #i18n, and pages
// that show words the category names of the language into #i18n-words.
//
//   const { _, ngettext, word, phrase } = window.DoodleI18n;
//   _("I see %(thing)s…", { thing: phrase("bicycle") })   // "Veo una bicicleta…"
//
// Messages are English in the scripts (pybabel extracts `_` and `ngettext` calls from
// static/**.js); a message with no translation shows in English.
(() => {
  "use strict";
  if (window.DoodleI18n) return;

  const read = (id, fallback) => {
    const node = document.getElementById(id);
    try { return node ? JSON.parse(node.textContent) : fallback; } catch { return fallback; }
  };
  const catalogue = read("i18n", { locale: "en", plural: "(n != 1)", messages: {} });
  const words = read("i18n-words", {});
  const locale = catalogue.locale || "en";
  // gettext's plural rule, from our own catalogue: the index of the form for n.
  const pluralIndex = pluralRule(catalogue.plural || "(n != 1)");

  // A gettext plural rule (a C expression of n: "(n != 1)", "n==1 ? 0 : n%10>=2 ? 1 : 2")
  // as a function, read by a small parser: the Content-Security-Policy allows no eval.
  function pluralRule(source) {
    const tokens = source.match(/\d+|n|&&|\|\||[=!<>]=|[-+*/%<>!?:()]/g) || [];
    const LEVELS = [["||"], ["&&"], ["==", "!="], ["<", "<=", ">", ">="], ["+", "-"], ["*", "/", "%"]];
    const OPS = {
      "||": (a, b) => a || b, "&&": (a, b) => a && b, "==": (a, b) => a === b, "!=": (a, b) => a !== b,
      "<": (a, b) => a < b, "<=": (a, b) => a <= b, ">": (a, b) => a > b, ">=": (a, b) => a >= b,
      "+": (a, b) => a + b, "-": (a, b) => a - b, "*": (a, b) => a * b, "/": (a, b) => Math.trunc(a / b), "%": (a, b) => a % b,
    };
    let i = 0;
    const expect = (token) => { if (tokens[i++] !== token) throw new SyntaxError(source); };
    // C's booleans are 0 and 1: every result is a number.
    const num = (f) => (n) => Number(f(n));
    function ternary() {
      const test = binary(0);
      if (tokens[i] !== "?") return test;
      i += 1;
      const yes = ternary();
      expect(":");
      const no = ternary();
      return (n) => (test(n) ? yes(n) : no(n));
    }
    function binary(level) {
      if (level === LEVELS.length) return unary();
      let left = binary(level + 1);
      while (LEVELS[level].includes(tokens[i])) {
        const op = OPS[tokens[i++]], a = left, b = binary(level + 1);
        left = num((n) => op(a(n), b(n)));
      }
      return left;
    }
    function unary() {
      const token = tokens[i++];
      if (token === "!") { const x = unary(); return num((n) => !x(n)); }
      if (token === "-") { const x = unary(); return (n) => -x(n); }
      if (token === "(") { const x = ternary(); expect(")"); return x; }
      if (token === "n") return (n) => n;
      if (/^\d+$/.test(token || "")) return () => Number(token);
      throw new SyntaxError(source);
    }
    try {
      const rule = ternary();
      if (i === tokens.length) return rule;
    } catch { /* below */ }
    return (n) => Number(n !== 1);  // a rule we cannot read: English's
  }

  function format(text, params) {
    // Python's %-format, as the catalogue has it: %(name)s, and %% for a percent sign.
    return params ? text.replace(/%\((\w+)\)s|%%/g, (m, key) => (m === "%%" ? "%" : key in params ? String(params[key]) : m)) : text;
  }

  function _(msgid, params) {
    const t = catalogue.messages[msgid];
    return format(typeof t === "string" && t ? t : msgid, params);
  }

  function ngettext(singular, plural, n, params) {
    const forms = catalogue.messages[singular];
    const i = pluralIndex(n);
    // A rule that names a form the catalogue lacks still speaks the language: its last form.
    const text = Array.isArray(forms) && forms.length ? forms[Math.min(i, forms.length - 1)] : (i === 0 ? singular : plural);
    return format(text, { n, ...params });
  }

  // A category (the English id the server sends) as this language names it, and as a
  // sentence says it, with its article: "bicicleta", "una bicicleta".
  const word = (id) => (words[id] ? words[id][0] : id);
  const phrase = (id) => (words[id] ? words[id][1] : id);

  const numberFormats = new Map();
  function number(x, digits = 0) {
    if (!numberFormats.has(digits)) {
      numberFormats.set(digits, new Intl.NumberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
    }
    return numberFormats.get(digits).format(x);
  }

  // "a, b or c" in the language's own way.
  const orList = "ListFormat" in Intl ? new Intl.ListFormat(locale, { type: "disjunction" }) : null;
  const either = (items) => (orList ? orList.format(items) : items.join(", "));

  // The voice's language: the browser's own variant of ours when it has one ("es-MX").
  const speechLang = (navigator.languages || []).find((l) => l.toLowerCase().split("-")[0] === locale) || locale;

  window.DoodleI18n = Object.freeze({ locale, speechLang, _, ngettext, word, phrase, number, either });
})();
