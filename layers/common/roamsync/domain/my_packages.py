"""The reseller's own sellable packages ("my packages"), each mapped to a Roamify reseller_id."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

ValidationStatus = Literal["valid", "invalid"]


class MyPackage(BaseModel):
    """One row of MyPackages. `reseller_id` is None for a draft that maps to nothing yet."""

    model_config = ConfigDict(frozen=True)

    id: str
    reseller_id: str | None
    name: str
    country_code: str | None = None
    country_name: str | None = None
    region: str | None = None
    data_mb: int | None = None
    unlimited: bool = False
    validity_days: int | None = None
    base_price: Decimal | None = None
    sale_price: Decimal | None = None
    currency: str = "USD"
    visible: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    validation_status: ValidationStatus | None = None
    validation_reason: str | None = None
    validated_at: datetime | None = None
