"""The dashboard's home: revenue per currency and day, sessions created versus completed, and failed payments by
decline code, over the last 7, 30 or 90 days."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from checkstand.api.http.unit_of_work import Session
from checkstand.core.money import format_money
from checkstand.dashboard import charts, service
from checkstand.dashboard.web import PREFIX, SignedInUser, render

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("/")
async def home(request: Request, user: SignedInUser, session: Session) -> Response:
    days = service.period_days(request.query_params.get("days"))
    figures = await service.overview(session, user.account_id, days)
    labels = [day.isoformat() for day in figures.days]
    revenue = [
        (
            currency,
            format_money(sum(amounts), currency),
            charts.bars(
                f"revenue-{currency}",
                f"Revenue in {currency.upper()} per day",
                f"Amounts taken each day in {currency.upper()}, from {labels[0]} to {labels[-1]}.",
                labels,
                [charts.Series(currency.upper(), amounts)],
            ),
            [(label, format_money(amount, currency)) for label, amount in zip(labels, amounts, strict=True) if amount],
        )
        for currency, amounts in figures.revenue.items()
    ]
    sessions_chart = charts.bars(
        "sessions",
        "Checkout sessions created and completed per day",
        f"Per day from {labels[0]} to {labels[-1]}: sessions created (first bar) and completed (second bar).",
        labels,
        [
            charts.Series("created", [day.created for day in figures.sessions]),
            charts.Series("completed", [day.completed for day in figures.sessions]),
        ],
    )
    declines_chart = charts.bars(
        "declines",
        "Failed payments by decline code",
        "How many payment attempts failed with each decline code.",
        [code for code, _ in figures.declines],
        [charts.Series("failed", [count for _, count in figures.declines])],
    )
    conversion = f"{100 * figures.completed / figures.created:.1f} %" if figures.created else "no sessions"
    return render(
        request,
        "home.html",
        user=user,
        days=days,
        periods=service.PERIODS,
        figures=figures,
        revenue=revenue,
        sessions_chart=sessions_chart,
        declines_chart=declines_chart if figures.declines else None,
        conversion=conversion,
    )
