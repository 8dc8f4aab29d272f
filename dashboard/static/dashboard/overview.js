// Keeps the overview current while it is open: fetches the fragment every refresh interval and
// swaps it in place. Without JavaScript the page still reads fine (it just does not update).
(function () {
  "use strict";
  var live = document.getElementById("overview-live");
  if (!live || !window.fetch) { return; }
  var url = live.getAttribute("data-fragment-url");
  var seconds = parseInt(live.getAttribute("data-refresh-seconds"), 10) || 60;

  function update() {
    if (document.hidden) { return; } // a background tab polls nothing
    live.classList.add("is-updating");
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        // Signed out meanwhile: the fragment redirects to the login page; stop polling.
        if (response.redirected) { window.clearInterval(timer); return null; }
        return response.ok ? response.text() : null; // a passing error: try again next time
      })
      .then(function (html) { if (html !== null) { live.innerHTML = html; } })
      .catch(function () { /* offline for a moment: the next interval tries again */ })
      .then(function () { live.classList.remove("is-updating"); });
  }

  var timer = window.setInterval(update, seconds * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { update(); } });
})();
