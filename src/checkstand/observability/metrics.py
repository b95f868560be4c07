"""The process's own counters, in prometheus-client's default registry.

They count what this process did; several processes are scraped one by one and summed by Prometheus. What the
whole deployment shares (the delivery queue, the workers' heartbeats) is read from the database at scrape time
instead (:mod:`checkstand.api.http.metrics`). Label values are bounded: a route's template, never its path.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

HTTP_REQUESTS: Final = Counter(
    "checkstand_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION: Final = Histogram(
    "checkstand_http_request_duration_seconds",
    "Time from a request's arrival to its response's start, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PAYMENTS: Final = Counter(
    "checkstand_payments",
    "Processors' answers to charges, by outcome (succeeded, declined, requires_action, unavailable) and decline code.",
    ["outcome", "decline_code"],
)
WEBHOOK_DELIVERIES: Final = Counter(
    "checkstand_webhook_deliveries",
    "Webhook delivery attempts, by outcome: succeeded, retrying (failed, tried again later), failed (given up), "
    "unrecorded (sent, but the outcome could not be stored; the delivery is sent again after its lease).",
    ["outcome"],
)
