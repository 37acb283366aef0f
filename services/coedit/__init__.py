"""coedit: several AI agents write one document together."""
