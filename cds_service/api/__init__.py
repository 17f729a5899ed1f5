"""Thin Flask blueprints: parse the HTTP request, call the service layer, shape the HTTP response."""
