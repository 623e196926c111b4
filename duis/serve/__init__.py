"""``duis serve``: the DUIS web services over HTTP, a drop-in for DCC Boxed.

A supplier adaptor changes only the host and port.  The pieces, in the order
a message meets them:

- :mod:`.app`: routes (``POST /api/v1/serviceS|T|D``, ``/health``, ``/admin/...``)
  and the mapping of refusals to HTTP statuses;
- :mod:`.engine`: the emulated DSP on its own thread (the DSP is not thread-safe);
- :mod:`.outbox`: asynchronous messages, durable in the SMI's SQLite file;
- :mod:`.delivery`: POSTs them to each user's endpoint, in order, with back-off;
- :mod:`.server`: start-up, graceful shutdown, signals;
- :mod:`.client` (``duis send``) and :mod:`.receiver` (``duis receive``).

See ``docs/serve.md``.
"""

from .app import HTTP_STATUS, build_app, http_status
from .client import Client, Exchange, Reply, ServerUnreachable
from .config import SERVICE_PATHS, Endpoints, ServeConfig, service_for
from .outbox import Outbox
from .receiver import Inbox, ReceiverThread, build_receiver
from .server import Server, ServerThread, serve_until_signalled

__all__ = ["HTTP_STATUS", "SERVICE_PATHS", "Client", "Endpoints", "Exchange", "Inbox", "Outbox",
           "ReceiverThread", "Reply", "ServeConfig", "Server", "ServerThread",
           "ServerUnreachable", "build_app", "build_receiver", "http_status",
           "serve_until_signalled", "service_for"]
