// Preselect the visitor's own timezone on the sign-up form. Progressive enhancement: without JavaScript (or
// when the browser names a zone the list lacks) the form keeps its default, UTC. Served as a file so the
// pages' Content-Security-Policy can allow scripts from 'self' only, never inline ones.
(function () {
  "use strict";
  var select = document.querySelector("select[data-detect]");
  if (!select) return;
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) {
      select.value = zone;
      return;
    }
  }
})();
