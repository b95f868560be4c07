// The hosted checkout page's Stripe form, in Stripe's "finalize payments on the server" flow: the Payment Element
// turns the card into a payment method id in the browser, and the server creates and confirms the PaymentIntent
// for its own amount (the amount given here only drives what the Element shows). On the authenticate page, the
// same script runs the PaymentIntent's 3-D Secure challenge and goes back to the checkout page, which settles it.
(function () {
  "use strict";

  var errors = document.getElementById("payment-errors");
  // The page's words in its language, from a JSON block the server wrote (data, never run: the policy allows no
  // inline script).
  var messageBlock = document.getElementById("page-messages");
  var messages = messageBlock ? JSON.parse(messageBlock.textContent) : {};

  function showError(message) {
    errors.textContent = message;
    errors.hidden = false;
  }

  function clearError() {
    errors.textContent = "";
    errors.hidden = true;
  }

  function collectCard(mount) {
    var form = mount.closest("form");
    var payButton = form.querySelector("button.pay");
    var methodInput = form.querySelector("input[name=payment_method_id]");
    var stripe = Stripe(mount.dataset.publishableKey);
    var options = {
      mode: mount.dataset.mode,
      currency: mount.dataset.currency,
      paymentMethodCreation: "manual",
      // The PaymentIntent the server creates allows cards only (see intent_params in processors/stripe.py).
      paymentMethodTypes: ["card"],
    };
    // A trial with nothing due today is a SetupIntent on the server: setup mode takes no amount.
    if (options.mode === "payment") {
      options.amount = parseInt(mount.dataset.amount, 10);
    }
    if (mount.dataset.setupFutureUsage) {
      options.setupFutureUsage = mount.dataset.setupFutureUsage;
    }
    var elements = stripe.elements(options);
    elements.create("payment").mount(mount);
    var ready = false;

    form.addEventListener("submit", function (event) {
      // Applying a code or changing the plan stays a plain post; so does the pay post once it carries its id.
      if (ready || event.submitter !== payButton) {
        return;
      }
      event.preventDefault();
      payButton.disabled = true;
      clearError();
      elements
        .submit()
        .then(function (submitted) {
          if (submitted.error) {
            throw submitted.error;
          }
          return stripe.createPaymentMethod({ elements: elements });
        })
        .then(function (created) {
          if (created.error) {
            throw created.error;
          }
          methodInput.value = created.paymentMethod.id;
          ready = true;
          payButton.disabled = false;
          // A native submit of the pay button, so the CSRF token and the other fields go with it. In a task of its
          // own: while the first submit event is still being dispatched, a form ignores another submission.
          window.setTimeout(function () {
            form.requestSubmit(payButton);
          }, 0);
        })
        .catch(function (error) {
          showError(error && error.message ? error.message : messages.card_not_checked);
          payButton.disabled = false;
        });
    });
  }

  function authenticate(holder) {
    var stripe = Stripe(holder.dataset.publishableKey);
    var back = function () {
      // Passed, failed or abandoned: the checkout page asks Stripe how it ended.
      window.location.assign(holder.dataset.returnUrl);
    };
    stripe.handleNextAction({ clientSecret: holder.dataset.clientSecret }).then(back, back);
  }

  var mount = document.getElementById("payment-element");
  var holder = document.getElementById("stripe-authenticate");
  if (typeof Stripe !== "function") {
    showError(messages.form_not_loaded);
    var payButton = mount && mount.closest("form").querySelector("button.pay");
    if (payButton) {
      payButton.disabled = true;
    }
  } else if (mount) {
    collectCard(mount);
  } else if (holder) {
    authenticate(holder);
  }
})();
