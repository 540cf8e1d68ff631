"""Open311 GeoReport v2: the API we serve, the way posted requests enter the pipeline, and forwarding upstream."""
