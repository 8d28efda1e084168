"""KPI families. Importing this package registers every KPI (see registry.py)."""

# Each family module registers its KPIs on import; add new families here.
from analytics.kpis import revenue  # noqa: F401
