// "Use my location" on the report form: the browser's position fills the hidden lat/lon fields. Without
// JavaScript (or without permission) the address field is all there is, and the form works the same.
(function () {
  "use strict";
  var button = document.getElementById("locate");
  if (!button || !("geolocation" in navigator)) {
    return;
  }
  var status = document.getElementById("locate-status");
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = button.dataset.locating;
    navigator.geolocation.getCurrentPosition(
      function (position) {
        document.getElementById("lat").value = position.coords.latitude.toFixed(6);
        document.getElementById("lon").value = position.coords.longitude.toFixed(6);
        status.textContent = button.dataset.located + " (±" + Math.round(position.coords.accuracy) + " m)";
      },
      function () {
        status.textContent = button.dataset.failed;
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });
})();
