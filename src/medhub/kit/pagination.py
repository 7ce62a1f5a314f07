"""`?page=&limit=` parameters and the `{"<plural>": [...], "pagination": {...}}` list shape."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


class PageParams(BaseModel):
    page: int
    limit: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


def _page_params(
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
