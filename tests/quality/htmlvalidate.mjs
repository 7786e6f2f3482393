// html-validate configuration for the HTML part of our emails (tests/quality/test_html_validate.py).
// The strictest preset, minus what email HTML cannot satisfy: mail clients keep only inline styles and
// presentational attributes, Outlook needs conditional comments and tables without <tbody>.
export default {
  extends: ["html-validate:recommended"],
  rules: {
    "no-inline-style": "off", // Gmail and Outlook drop or rewrite <style>; inline style is the only dependable one
    "no-deprecated-attr": "off", // bgcolor, align, cellpadding, border: what Outlook's Word engine reads
    "prefer-tbody": "off", // MJML's layout tables; clients add nothing and expect nothing
    "doctype-style": "off", // "<!doctype html>" lower case, as MJML writes it
    "no-conditional-comment": "off", // <!--[if mso]> blocks are how Outlook gets its fixed-width tables
    // <div role="article" aria-roledescription="email"> is the email accessibility pattern: clients strip or
    // restyle <article>, so the role stays on a div. Every other native-element preference still applies.
    "prefer-native-element": ["error", { exclude: ["article"] }],
  },
};
