// Comfort only: the page works without it (the code is on screen and downloadable).
(function () {
  var button = document.getElementById("copy-button");
  var status = document.getElementById("copy-status");
  if (!button || !navigator.clipboard) { if (button) { button.hidden = true; } return; }
  button.addEventListener("click", function () {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      status.textContent = "Copied to the clipboard.";
    }, function () {
      status.textContent = "Could not copy; select the code and copy it by hand.";
    });
  });
})();
