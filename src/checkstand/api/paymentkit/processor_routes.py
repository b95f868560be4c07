"""``processor-routes/``: ordered lists of processors a checkout tries, exactly as the SDK's ``processor_routes``
client has them (its list is ``{"data", "total", "limit", "offset"}``, not the usual envelope)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response, status
from pydantic import Field, StringConstraints

from checkstand.api.http.auth import AccountId
from checkstand.api.http.query import Pagination
from checkstand.api.http.unit_of_work import Session
from checkstand.api.paymentkit.common import Omittable, ResponseModel, WireModel
from checkstand.checkout import processor_routes as checkout_routes
from checkstand.processors import routes
from checkstand.processors.models import ProcessorRoute

router = APIRouter(prefix="/api/{account_id}/processor-routes", tags=["processor-routes"])

RouteName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=1000)]
Disposition = Literal["charge_and_setup", "setup_only"]


class RouteProcessorIn(WireModel):
    processor_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    disposition: Disposition | None = Field(default=None, description="charge_and_setup (default) or setup_only.")


RouteProcessors = Annotated[
    list[RouteProcessorIn],
    Field(
        min_length=1,
        max_length=routes.MAX_ROUTE_PROCESSORS,
        description=f"1 to {routes.MAX_ROUTE_PROCESSORS} distinct processors, in the order to try them.",
    ),
]


class ProcessorRouteCreate(WireModel):
    name: RouteName
    description: Description | None = None
    processors: RouteProcessors


class ProcessorRouteUpdate(WireModel):
    # Omitted keeps the current value; a route can't be left without a name or processors.
    name: Omittable[RouteName] = None
    description: Description | None = None
    processors: Omittable[RouteProcessors] = Field(default=None, description="Replaces the list as a whole.")


def _steps(processors: list[RouteProcessorIn]) -> list[routes.RouteStep]:
    return [routes.RouteStep(step.processor_id, step.disposition) for step in processors]


class RouteProcessorOut(ResponseModel):
    processor_id: str
    disposition: str


class ProcessorRouteOut(ResponseModel):
    id: str
    name: str
    description: str | None
    processors: list[RouteProcessorOut]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, route: ProcessorRoute) -> ProcessorRouteOut:
        return cls(
            id=route.id,
            name=route.name,
            description=route.description,
            processors=[RouteProcessorOut.model_validate(entry) for entry in route.entries],
            created_at=route.created_at,
            updated_at=route.updated_at,
        )


class ProcessorRouteList(ResponseModel):
    data: list[ProcessorRouteOut]
    total: int
    limit: int
    offset: int


@router.get("/")
async def list_processor_routes(account_id: AccountId, page: Pagination, session: Session) -> ProcessorRouteList:
    """Newest first."""
    found = await routes.list_routes(session, account_id, page)
    return ProcessorRouteList(
        data=[ProcessorRouteOut.of(route) for route in found.items],
        total=found.total,
        limit=found.limit,
        offset=found.offset,
    )


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_processor_route(
    account_id: AccountId, body: ProcessorRouteCreate, session: Session
) -> ProcessorRouteOut:
    route = await routes.create_route(
        session, account_id, name=body.name, description=body.description, processors=_steps(body.processors)
    )
    return ProcessorRouteOut.of(route)


@router.get("/{route_id}")
async def get_processor_route(account_id: AccountId, route_id: str, session: Session) -> ProcessorRouteOut:
    return ProcessorRouteOut.of(await routes.get_route(session, account_id, route_id, lock=False))


@router.patch("/{route_id}")
async def update_processor_route(
    account_id: AccountId, route_id: str, body: ProcessorRouteUpdate, session: Session
) -> ProcessorRouteOut:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"processors"})
    if body.processors is not None:
        changes["processors"] = _steps(body.processors)
    return ProcessorRouteOut.of(await routes.update_route(session, account_id, route_id, changes))


@router.delete("/{route_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_processor_route(account_id: AccountId, route_id: str, session: Session) -> Response:
    """Refused (409 ``route_in_use``) while the route is the account's default or a checkout session names it."""
    await checkout_routes.delete_processor_route(session, account_id, route_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
