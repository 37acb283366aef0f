"""The coedit operator: turns a `CoEditSession` custom resource into a running session."""
