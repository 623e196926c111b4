"""Typed DUIS messages: small immutable objects parsed from and built to XML."""

from .ids import EUI64, MessageID, RequestID, ResponseID

__all__ = ["EUI64", "MessageID", "RequestID", "ResponseID"]
