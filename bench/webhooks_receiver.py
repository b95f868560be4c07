"""A webhook receiver for the delivery benchmark, in a process of its own so it never competes with what is measured.

It verifies every request with ``standardwebhooks``, notes the wall-clock time each ``webhook-id`` first arrived,
and answers ``GET /stats`` with those times. Run by :mod:`bench.webhooks_delivery`; by hand:
``.venv/bin/python -m bench.webhooks_receiver --port 8800 --secret whsec_...``.
"""

from __future__ import annotations

import argparse
import time

from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def make_app(secret: str) -> web.Application:
    verifier = Webhook(secret)
    arrivals: dict[str, float] = {}
    counts = {"requests": 0, "duplicates": 0, "unverified": 0}

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        counts["requests"] += 1
        try:
            verifier.verify(body, dict(request.headers), json_parse=False)
        except WebhookVerificationError:
            counts["unverified"] += 1
            return web.Response(status=400, text="bad signature")
        webhook_id = request.headers["webhook-id"]
        if webhook_id in arrivals:
            counts["duplicates"] += 1
        else:
            arrivals[webhook_id] = time.time()
        return web.Response(text="ok")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({"arrivals": arrivals, **counts})

    app = web.Application()
    app.router.add_post("/hooks", receive)
    app.router.add_get("/stats", stats)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    web.run_app(make_app(args.secret), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
