"""One router per resource: each handler parses input, calls a service, picks an answer."""
