"""The browser client: static files from this package, served by the service itself."""
