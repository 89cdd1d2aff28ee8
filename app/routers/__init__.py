"""HTTP routers: validate, authorise, call a service or repository, shape the response."""
