"""Test helper: one JSON request to an `isnad serve` process, on a connection of its own."""

from __future__ import annotations

import http.client
import json

from evaluation.server import ServedIndex


def request(
    server: ServedIndex, method: str, path: str, body: object = None, key: str = ""
) -> tuple[int, dict]:
    """(status, decoded body); a new connection each time, so with several workers any of them may answer."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=60)
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    try:
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()
