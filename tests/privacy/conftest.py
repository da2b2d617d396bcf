"""A fake Exchange with every kind of identifier: patients with MRNs, names, emails and
phones, observations with uuids, damaged records (so errors tables and sidecars exist), and
codes the catalogue does not know (bodies whose text nothing vets)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest

import jhe
from jhe.testing import FakeExchange

KEY = "a de-identification key for the tests"
OTHER_KEY = "another de-identification key, for the tests"


@pytest.fixture(scope="package")
def fx() -> Iterator[FakeExchange]:
    with FakeExchange(patients=5, days=3, seed=15, damaged_every=40, unknown_codes=True) as exchange:
        yield exchange


@pytest.fixture(scope="package")
def client(fx: FakeExchange) -> jhe.Client:
    return jhe.Client(fx.url, fx.token)


def expected_pseudonym(key: str, server: str, patient_id: int) -> str:
    """The README's formula, computed with the standard library: HMAC-SHA256 of the key
    over ``patient 0x00 server 0x00 id``, its first 128 bits in hex."""
    message = b"patient\0" + server.rstrip("/").encode() + b"\0" + str(patient_id).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()[:32]
