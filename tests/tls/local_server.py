"""A small HTTPS server on 127.0.0.1 that answers like a realm: discovery and key set, nothing else.

It lets the TLS behaviour of the real HTTP stack (httpx, ssl, the certificate checks) be tested
in a second, with the real Keycloak over HTTPS in `test_keycloak_tls.py` as the end-to-end proof.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.fake_keycloak import CERTS_PATH, DISCOVERY_PATH, FakeKeycloak


@contextmanager
def https_realm(fake: FakeKeycloak, certificate: Path, key: Path) -> Iterator[int]:
    """Serve `fake`'s discovery document and key set over TLS; yields the port."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            documents = {DISCOVERY_PATH: fake.discovery(), CERTS_PATH: fake.jwks()}
            document = documents.get(self.path)
            body = json.dumps(document if document is not None else {"error": "not found"}).encode()
            self.send_response(200 if document is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
