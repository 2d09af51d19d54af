// Passkeys (S58): the two WebAuthn ceremonies, the only thing here that needs a script.
// A form marked data-passkey asks data-options for a ceremony (a POST with its CSRF token,
// answered with JSON), runs navigator.credentials, puts the answer in its hidden fields and
// is posted like any other form; the server decides everything. Without this script, or
// without passkey support, those forms stay hidden and every page works as before.
(function () {
  "use strict";
  var PKC = window.PublicKeyCredential;
  var supported = PKC && navigator.credentials &&
    typeof PKC.parseCreationOptionsFromJSON === "function" &&
    typeof PKC.parseRequestOptionsFromJSON === "function";
  var forms = document.querySelectorAll("form[data-passkey]");
  if (!supported || forms.length === 0) { return; }
  document.querySelectorAll("[data-passkey-unsupported]").forEach(function (p) { p.hidden = true; });

  function say(form, text) {
    var status = form.querySelector("[data-passkey-status]");
    if (status) { status.textContent = text; }
  }

  // A ceremony's options from the server: { ceremony, options: { publicKey, … } }.
  function start(form) {
    var body = new URLSearchParams();
    body.set("csrf", form.elements.csrf.value);
    return fetch(form.getAttribute("data-options"), {
      method: "POST", body: body, credentials: "same-origin", redirect: "error",
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { throw new Error("refused"); }
      return response.json();
    });
  }

  function run(form, mediation, signal) {
    return start(form).then(function (begun) {
      var publicKey = begun.options.publicKey;
      var asked = form.getAttribute("data-passkey") === "create"
        ? navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(publicKey) })
        : navigator.credentials.get({ publicKey: PKC.parseRequestOptionsFromJSON(publicKey), mediation: mediation, signal: signal });
      return asked.then(function (credential) {
        form.elements.ceremony.value = begun.ceremony;
        form.elements.credential.value = JSON.stringify(credential.toJSON());
        form.submit();
      });
    });
  }

  // The browser's autofill offers passkeys on the e-mail field (conditional mediation),
  // until the button asks in the ordinary way.
  var autofill = null;
  forms.forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      if (form.elements.credential.value) { return; }
      event.preventDefault();
      if (autofill) { autofill.abort(); autofill = null; }
      say(form, "Follow your browser's prompt to use your passkey.");
      run(form).catch(function (error) {
        if (error && error.name === "NotAllowedError") {
          say(form, "No passkey was used. Try again, or sign in another way.");
        } else {
          // Let the server answer (a recent sign-in asked for, or its message).
          form.submit();
        }
      });
    });
  });

  var conditional = document.querySelector("form[data-passkey][data-conditional]");
  if (conditional && typeof PKC.isConditionalMediationAvailable === "function") {
    PKC.isConditionalMediationAvailable().then(function (available) {
      if (!available || autofill) { return; }
      autofill = new AbortController();
      run(conditional, "conditional", autofill.signal).catch(function () {});
    });
  }
})();
