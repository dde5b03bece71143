"""The HTTP front door: the FastAPI app, its middleware, limits and `kanmin serve`."""
