// Live updates: every few seconds, fetch this page's live part again (the server renders it alone when asked
// with X-Partial: 1) and put it in place. One request per interval per open page; paused while the tab is hidden.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var seconds = parseInt(live.getAttribute("data-interval") || "0", 10);
  if (!(seconds > 0)) { return; }
  var busy = false;
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(window.location.href, { headers: { "X-Partial": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) { live.innerHTML = html; live.removeAttribute("data-stale"); })
      .catch(function () { live.setAttribute("data-stale", "true"); })
      .then(function () { busy = false; });
  }
  window.setInterval(refresh, seconds * 1000);
}());
