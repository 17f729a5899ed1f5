"""The wire format, described once: marshmallow schemas for what clients send us."""
