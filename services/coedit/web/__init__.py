"""The web UI (`coedit web`): server-rendered pages over the session's services,
kept live through one Server-Sent Events stream."""
