"""roamsync: keeps an eSIM reseller's package catalog in step with Roamify (the Lambda layer package)."""

__version__ = "0.1.0"
