"""Typed DUIS messages: small immutable objects parsed from and built to XML."""

from .codec import (
                    build,
                    build_element,
                    build_serialized,
                    from_tree,
                    parse_message,
                    serialize,
                    to_element,
                    to_node,
)
from .factory import default_command_variant, request, response, response_message
from .ids import EUI64, MessageID, RequestID, ResponseID
from .model import (
                    Message,
                    MMCDocument,
                    Node,
                    Request,
                    RequestHeader,
                    Response,
                    ResponseHeader,
                    format_datetime,
                    leaf,
                    node,
)

__all__ = ["EUI64", "MessageID", "RequestID", "ResponseID", "MMCDocument", "Message", "Node",
           "Request", "RequestHeader", "Response", "ResponseHeader", "build", "build_element",
           "build_serialized", "format_datetime",
           "from_tree", "leaf", "node", "request", "response", "response_message",
           "default_command_variant", "parse_message", "serialize", "to_element", "to_node"]
