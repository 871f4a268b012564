// /review keyboard shortcuts: a approve, r reject, j next item, k previous item.
// Plain script, no inline code: the page's Content-Security-Policy allows only files
// served from here.
(function () {
  "use strict";

  function typing(element) {
    if (!element) return false;
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  var submitting = false;

  document.addEventListener("submit", function (event) {
    if (event.target && event.target.id === "decide") {
      if (submitting) {
        event.preventDefault(); // one decision per item: a double press would be a 409
        return;
      }
      submitting = true;
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    if (typing(event.target)) return;
    var review = document.getElementById("review");
    var form = document.getElementById("decide");
    if (!review || !form) return;
    function go(id) {
      if (id) window.location.assign(review.dataset.base + "?item=" + encodeURIComponent(id));
    }
    function decide(buttonId) {
      event.preventDefault();
      // requestSubmit runs the form's validation (a reviewer name is required) first.
      form.requestSubmit(document.getElementById(buttonId));
    }
    switch (event.key) {
      case "a":
        decide("approve");
        break;
      case "r":
        decide("reject");
        break;
      case "j":
        go(review.dataset.next);
        break;
      case "k":
        go(review.dataset.prev);
        break;
      default:
        break;
    }
  });
})();
