"""KPI families. Importing this package registers every KPI (see registry.py)."""

# Each family module registers its KPIs on import; add new families here.
# One line per family, appended by its owner: not merged or sorted by the linter.
# ruff: noqa: I001
from analytics.kpis import content_ratings  # noqa: F401
from analytics.kpis import revenue  # noqa: F401
from analytics.kpis import content  # noqa: F401
from analytics.kpis import geography  # noqa: F401
from analytics.kpis import audience  # noqa: F401
from analytics.kpis import engagement  # noqa: F401
from analytics.kpis import cohorts  # noqa: F401
