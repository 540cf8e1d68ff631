"""The one ASGI app: public tracking pages, webhooks, staff inbox, Open311, health and metrics."""
