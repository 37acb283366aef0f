from pydantic import Field

from coedit.common.settings import AgentTokenSettings


class AnalyticsSettings(AgentTokenSettings):
    """Run the analytics service: events in, summaries and time series out."""

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres", description="the service's PostgreSQL"
    )
    pool_size: int = Field(10, ge=1, description="most connections the service opens")
    metrics_cache_seconds: float = Field(
        10.0, ge=0, description="how long a scrape's summary is reused by the next scrapes"
    )
