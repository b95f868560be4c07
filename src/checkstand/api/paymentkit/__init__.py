"""The PaymentKit dialect (``payment-kit`` SDK): one module per resource, each with its router and wire schemas."""
