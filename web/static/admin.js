// storebridge admin: small progressive enhancements. Every page works
// without this file; with it, embedded pages carry Shopify's session
// token, and phone fields show the number as it will be sent.
(function () {
  "use strict";

  var embedded = document.body && document.body.dataset.embedded === "1";

  function withParam(href, name, value) {
    var u = new URL(href, location.href);
    u.searchParams.set(name, value);
    return u.toString();
  }

  // idToken resolves to a fresh Shopify session token, or null when App
  // Bridge did not load (offline, blocked CDN): then the session cookie
  // set at sign-in carries the request.
  function idToken() {
    if (!window.shopify || typeof window.shopify.idToken !== "function") {
      return Promise.resolve(null);
    }
    return window.shopify.idToken().catch(function () { return null; });
  }

  function sameOriginAdmin(href) {
    try {
      var u = new URL(href, location.href);
      return u.origin === location.origin && u.pathname.indexOf("/admin") === 0;
    } catch (e) { return false; }
  }

  if (embedded) {
    document.addEventListener("click", function (ev) {
      var a = ev.target.closest && ev.target.closest("a[href]");
      if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || !sameOriginAdmin(a.href)) {
        return;
      }
      ev.preventDefault();
      idToken().then(function (t) {
        location.assign(t ? withParam(a.href, "id_token", t) : a.href);
      });
    });
    document.addEventListener("submit", function (ev) {
      var form = ev.target;
      if (form.dataset.tokenAdded === "1" || !sameOriginAdmin(form.action)) {
        return;
      }
      ev.preventDefault();
      var submitter = ev.submitter;
      idToken().then(function (t) {
        if (t) {
          var input = form.querySelector("input[name=id_token]") || document.createElement("input");
          input.type = "hidden"; input.name = "id_token"; input.value = t;
          form.appendChild(input);
        }
        // A token that comes at once (none, or App Bridge's cached one)
        // arrives while the first submit event is still firing, when a
        // browser ignores requestSubmit: submit again from a fresh task.
        setTimeout(function () {
          form.dataset.tokenAdded = "1";
          if (form.requestSubmit) { form.requestSubmit(submitter || undefined); } else { form.submit(); }
          form.dataset.tokenAdded = "";
        }, 0);
      });
    }, true);
  }

  // A page opened inside Shopify admin without a token asks App Bridge
  // for one and loads again with it.
  if (document.querySelector("[data-bounce-marker]")) {
    idToken().then(function (t) {
      if (t) { location.replace(withParam(location.href, "id_token", t)); return; }
      var fallback = document.getElementById("bounce-fallback");
      if (fallback) { fallback.hidden = false; }
    });
  }

  // Buttons that change much ask first.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest && ev.target.closest("[data-confirm]");
    if (b && !window.confirm(b.dataset.confirm)) { ev.preventDefault(); }
  });

  // Phone fields: as the merchant types, show the number in E.164 as the
  // server reads it for the store's country.
  Array.prototype.forEach.call(document.querySelectorAll("input[data-phone-check]"), function (input) {
    var out = document.getElementById(input.getAttribute("aria-describedby"));
    var timer = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var v = input.value.trim();
        if (!out) { return; }
        if (v === "") { out.textContent = out.dataset.idle || ""; return; }
        fetch(input.dataset.phoneCheck + "?phone=" + encodeURIComponent(v), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (j) {
            if (!j) { return; }
            out.textContent = j.e164 ? "Sends to " + j.e164 : j.reason;
            input.setAttribute("aria-invalid", j.e164 ? "false" : "true");
          })
          .catch(function () {});
      }, 250);
    });
  });
})();
