"""Route handlers of the gateway, one module per area; ``ROUTERS`` lists them all."""
