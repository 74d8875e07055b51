"""The web layer: routes, handlers and middlewares; the only code that knows HTTP."""
