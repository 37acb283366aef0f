"""Runtime pieces every coedit service shares: settings, logs, tracing, HTTP app, auth."""
