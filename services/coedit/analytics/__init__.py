"""The analytics service: agents' events in PostgreSQL, windowed summaries, time
series and per-agent figures in SQL, and the same figures for Prometheus."""
