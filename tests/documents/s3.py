"""A local S3 (moto's server mode) for the storage tests: real HTTP, real boto3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from moto.server import ThreadedMotoServer

# moto accepts any credentials; explicit ones keep boto3 away from the developer's own.
ACCESS_KEY = "testing"
SECRET_KEY = "testing"


@contextmanager
def moto_s3() -> Iterator[str]:
    """Start moto on a free port; yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def unique_bucket() -> str:
    return f"medhub-test-{uuid.uuid4().hex[:12]}"
