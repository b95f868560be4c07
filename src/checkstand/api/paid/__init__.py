"""The Paid dialect (``paid-python`` SDK) at ``/api/v2``: one module per resource, each with its router and wire
schemas, over the same services and rows as the PaymentKit dialect. The account is the secret key's."""
