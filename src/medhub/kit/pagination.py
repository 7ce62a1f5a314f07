"""`?page=&limit=` parameters and the `{"<plural>": [...], "pagination": {...}}` list shape.

A list route builds its `data` with `page_of` and documents it with `page_envelope`
(`response_model=page_envelope("orders", OrderSummary)`): one named page model per list,
whose `<plural>` is an array of the item schema in /openapi.json.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, create_model

from medhub.kit.envelope import Envelope

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


class PageParams(BaseModel):
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


async def _page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1")] = 1,
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page (at most {MAX_LIMIT})")
    ] = DEFAULT_LIMIT,
) -> PageParams:
    return PageParams(page=page, limit=limit)


Paging = Annotated[PageParams, Depends(_page_params)]


class Pagination(BaseModel):
    page: int
    limit: int
    total: int
    total_pages: int


def pagination(params: PageParams, total: int) -> Pagination:
    return Pagination(
        page=params.page,
        limit=params.limit,
        total=total,
        total_pages=math.ceil(total / params.limit) if total else 0,
    )


def page_of(key: str, items: Sequence[Any], params: PageParams, total: int) -> dict[str, Any]:
    """The list payload: `{key: items, "pagination": {...}}`."""
    return {key: items, "pagination": pagination(params, total)}


# Models made by `page_model`, by name, with the fields they were made from: OpenAPI
# names components after models, so one name must always mean one shape.
_page_models: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {}


def page_model(key: str, item: type[BaseModel], **extra: Any) -> type[BaseModel]:
    """The documented `data` of a list: `{key: [item, ...], "pagination": {...}, **extra}`.

    One model per key, named after it (`"api_keys"` → `ApiKeysPage`) and made once; the
    routes still build the payload with `page_of`, in the same key order.
    """
    name = "".join(part.capitalize() for part in key.split("_")) + "Page"
    # `item` is a class chosen at run time: mypy cannot check it as a static type.
    fields: dict[str, Any] = {
        key: (list[item], ...),  # type: ignore[valid-type]
        "pagination": (Pagination, ...),
        **{field: (annotation, ...) for field, annotation in extra.items()},
    }
    made = _page_models.get(name)
    if made is not None:
        model, made_from = made
        if made_from != fields:
            raise ValueError(f"{name} is already the page of another shape: {made_from}")
        return model
    doc = f"One page of `{key}`, and its `pagination`."
    model = create_model(name, __module__=__name__, __doc__=doc, **fields)
    _page_models[name] = (model, fields)
    return model


def page_envelope(key: str, item: type[BaseModel], **extra: Any) -> type[BaseModel]:
    """A list route's `response_model`: `Envelope[page_model(key, item, **extra)]`."""
    # `page` is made at run time, so mypy cannot take it as a type argument.
    page = page_model(key, item, **extra)
    envelope: type[BaseModel] = Envelope[page]  # type: ignore[valid-type]
    return envelope
