// The hosted checkout page's improvements; the page works without them (the server checks every field).
// The card number is grouped as typed (4-4-4-4, American Express 4-6-5) with its brand named, the expiry reads
// "MM / YY", and on a phone the order summary starts folded (its total stays in view on its toggle).
(function () {
  "use strict";

  var BRANDS = [
    { name: "American Express", pattern: /^3[47]/, groups: [4, 6, 5] },
    { name: "Visa", pattern: /^4/, groups: [4, 4, 4, 4, 3] },
    { name: "Mastercard", pattern: /^(5[1-5]|2[2-7])/, groups: [4, 4, 4, 4] },
    { name: "Discover", pattern: /^(6011|65|64[4-9])/, groups: [4, 4, 4, 4, 3] },
    { name: "JCB", pattern: /^35/, groups: [4, 4, 4, 4, 3] },
    { name: "Diners Club", pattern: /^3(0|6|8|9)/, groups: [4, 6, 4, 5] },
  ];
  var DEFAULT_GROUPS = [4, 4, 4, 4, 3];

  function brandOf(digits) {
    for (var i = 0; i < BRANDS.length; i += 1) {
      if (BRANDS[i].pattern.test(digits)) {
        return BRANDS[i];
      }
    }
    return null;
  }

  function grouped(digits, groups) {
    var parts = [];
    var start = 0;
    for (var i = 0; i < groups.length && start < digits.length; i += 1) {
      parts.push(digits.slice(start, start + groups[i]));
      start += groups[i];
    }
    return parts.join(" ");
  }

  var number = document.getElementById("card_number");
  var brand = document.getElementById("card-brand");
  if (number && brand) {
    number.addEventListener("input", function () {
      var digits = number.value.replace(/\D/g, "").slice(0, 19);
      var found = brandOf(digits);
      number.value = grouped(digits, found ? found.groups : DEFAULT_GROUPS);
      brand.textContent = found ? found.name : "";
    });
  }

  var expiry = document.getElementById("exp");
  if (expiry) {
    expiry.addEventListener("input", function (event) {
      var digits = expiry.value.replace(/\D/g, "").slice(0, 4);
      if (digits.length === 1 && digits > "1") {
        digits = "0" + digits;
      }
      var deleting = event.inputType && event.inputType.indexOf("delete") === 0;
      expiry.value = digits.length > 2 || (digits.length === 2 && !deleting) ? digits.slice(0, 2) + " / " + digits.slice(2) : digits;
    });
  }

  // A plan or currency picked re-prices the page at once: the "Update plan" post, sent for the customer.
  var update = document.querySelector("button.update-plan");
  if (update) {
    update.hidden = true;
    var pickers = update.form.querySelectorAll(".plans input[type=radio], select[name=currency]");
    for (var p = 0; p < pickers.length; p += 1) {
      pickers[p].addEventListener("change", function () {
        update.form.requestSubmit(update);
      });
    }
  }

  var summary = document.querySelector("details.summary");
  if (summary && window.matchMedia("(max-width: 49.99rem)").matches) {
    summary.open = false;
  }
})();
