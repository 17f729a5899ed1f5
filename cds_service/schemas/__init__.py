"""The wire format, described once: marshmallow schemas for what clients send us."""


def flatten_messages(messages: object, prefix: str = "") -> str:
    """Flatten marshmallow's nested messages into ``field: problem`` phrases for an OperationOutcome."""
    if isinstance(messages, dict):
        return "; ".join(flatten_messages(value, f"{prefix}{key}." if key != "_schema" else prefix)
                         for key, value in messages.items())
    if isinstance(messages, list):
        return "; ".join(flatten_messages(m, prefix) for m in messages)
    return f"{prefix.rstrip('.')}: {messages}" if prefix else str(messages)
