"""Development and test tools that are not part of the service (see demo/README.md)."""
