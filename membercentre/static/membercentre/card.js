// Refreshes the member code before it expires: fetches a fresh fragment from the server and
// swaps it in. No framework, no CDN; works in WeChat's in-app browser.
(function () {
  "use strict";
  function schedule(box) {
    var seconds = parseInt(box.getAttribute("data-refresh-in"), 10) || 50;
    window.setTimeout(function () { refresh(box); }, seconds * 1000);
  }
  function refresh(box) {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", box.getAttribute("data-refresh-url"));
    xhr.onload = function () {
      if (xhr.status !== 200) { window.location.reload(); return; }
      var holder = document.createElement("div");
      holder.innerHTML = xhr.responseText;
      var fresh = holder.querySelector("#member-code");
      if (!fresh) { window.location.reload(); return; }
      box.parentNode.replaceChild(fresh, box);
      schedule(fresh);
    };
    xhr.onerror = function () { window.setTimeout(function () { refresh(box); }, 5000); };
    xhr.send();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("member-code");
    if (box) { schedule(box); }
  });
})();
