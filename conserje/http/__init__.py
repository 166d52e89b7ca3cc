"""The HTTP side: the Falcon app with the webhook, admin endpoints and dashboard."""
