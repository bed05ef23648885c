"""Mapped sources: any tool that sends webhooks, authenticated and mapped to canonical events by config."""

from adapters.mapped.inbound import MappedAdapter, map_body

__all__ = ["MappedAdapter", "map_body"]
