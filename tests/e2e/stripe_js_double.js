// A test stand-in for Stripe.js, served in place of https://js.stripe.com/v3/ by the browser tests (no network
// here, and Stripe's real iframes talk to Stripe). It implements only the calls checkout-stripe.js makes:
// Stripe(pk), elements(options), create("payment").mount(el), elements.submit(), createPaymentMethod({elements})
// and handleNextAction({clientSecret}). Instead of card fields, the mounted "Payment Element" is one labelled
// field where the test types the payment method id to create. handleNextAction passes the challenge through
// localstripe's _authenticate endpoint, called at https://api.stripe.com (the tests route that origin to
// localstripe) with the publishable key, as Stripe.js would.
(function () {
  "use strict";

  window.Stripe = function (publishableKey) {
    var seen = { publishableKey: publishableKey, options: null };
    window.stripeDouble = seen;

    function methodField() {
      return document.getElementById("stripe-double-method");
    }

    return {
      elements: function (options) {
        seen.options = options;
        return {
          create: function (type) {
            seen.type = type;
            return {
              mount: function (target) {
                var label = document.createElement("label");
                label.htmlFor = "stripe-double-method";
                label.textContent = "Test payment method id";
                var input = document.createElement("input");
                input.id = "stripe-double-method";
                input.autocomplete = "off";
                target.appendChild(label);
                target.appendChild(input);
              },
            };
          },
          submit: function () {
            var empty = !methodField().value.trim();
            return Promise.resolve(empty ? { error: { message: "Your card number is incomplete." } } : {});
          },
        };
      },
      createPaymentMethod: function () {
        return Promise.resolve({ paymentMethod: { id: methodField().value.trim() } });
      },
      handleNextAction: function (params) {
        var intentId = params.clientSecret.split("_secret_")[0];
        var body = new URLSearchParams({ key: publishableKey, client_secret: params.clientSecret, success: "true" });
        return fetch("https://api.stripe.com/v1/payment_intents/" + intentId + "/_authenticate", {
          method: "POST",
          body: body,
        })
          .then(function (response) {
            return response.json();
          })
          .then(function (intent) {
            return intent.error ? { error: intent.error } : { paymentIntent: intent };
          });
      },
    };
  };
})();
