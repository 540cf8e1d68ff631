"""Inbox311 runtime: the edges, the pipeline, the workers, the web app. The only package that wires things."""
