// The dashboards' only script: sign in and out, print, and the live refresh of the figures
// (every 30 s the panel is fetched again and swapped in; no page reload).
(function () {
  "use strict";

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.getAttribute("content") : "";
  }

  var form = document.getElementById("login");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var err = document.getElementById("login-error");
      fetch("/api/login", {
        method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: form.username.value, password: form.password.value })
      }).then(function (r) {
        if (r.ok) { window.location.assign("/dashboard?lang=" + form.getAttribute("data-lang")); return; }
        err.textContent = err.getAttribute(r.status === 429 ? "data-limited" : "data-bad");
      });
    });
  }

  var out = document.getElementById("logout");
  if (out) {
    out.addEventListener("click", function () {
      fetch("/api/logout", { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() } })
        .then(function () { window.location.assign("/login?lang=" + document.documentElement.lang); });
    });
  }

  var pr = document.getElementById("print");
  if (pr) { pr.addEventListener("click", function () { window.print(); }); }

  var url = document.body.getAttribute("data-refresh");
  var target = document.getElementById("figures");
  var every = parseInt(document.body.getAttribute("data-refresh-ms") || "30000", 10);
  if (url && target) {
    window.setInterval(function () {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin" }).then(function (r) {
        if (r.status === 401) { window.location.assign("/login?lang=" + document.documentElement.lang); return null; }
        return r.ok ? r.json() : null;
      }).then(function (data) {
        if (data && typeof data.html === "string") {
          target.innerHTML = data.html;  // server-rendered and escaped there
          document.body.setAttribute("data-refreshed", String(Date.now()));
        }
      }).catch(function () { /* keep the figures shown; next tick tries again */ });
    }, Math.max(every, 1000));
  }
})();
