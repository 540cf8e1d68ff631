// Keyboard help for the staff inbox; every page works without it.
// "/" focuses the search box; "j" and "k" move between tickets in the list; "Enter" on a focused row opens it;
// the header checkbox selects every ticket on the page.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function rowLinks() {
    return Array.prototype.slice.call(document.querySelectorAll("table.tickets a.open"));
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(document.activeElement)) {
      return;
    }
    if (event.key === "/") {
      var search = document.getElementById("q");
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
    } else if (event.key === "j" || event.key === "k") {
      var links = rowLinks();
      if (!links.length) {
        return;
      }
      var at = links.indexOf(document.activeElement);
      var next = event.key === "j" ? Math.min(at + 1, links.length - 1) : Math.max(at - 1, 0);
      links[next].focus();
      event.preventDefault();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target && event.target.id === "select-all") {
      var boxes = document.querySelectorAll('table.tickets input[name="ticket_id"]');
      for (var i = 0; i < boxes.length; i++) {
        boxes[i].checked = event.target.checked;
      }
    }
  });
})();
