"""Who may do what in the catalog. Reading is public; the product's supplier is
checked by the service, which knows the product."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from medhub.authz.dependencies import require
from medhub.authz.permissions import Action
from medhub.authz.principal import Principal

ProductsWrite = Annotated[Principal, Depends(require(Action.PRODUCTS_WRITE))]
