"""Encrypted Parquet: Apache Parquet modular encryption through ``pyarrow.parquet.encryption``
(AES-GCM, encrypted footer, pyarrow's envelope encryption: each file's data keys wrapped by
a master key). The master key is given directly (``Encryption(key=...)`` or
``JHE_EXPORT_KEY``), and reached through a small local :class:`KmsClient` that wraps data
keys with AES-GCM (``cryptography``), or through a KMS client the user's own factory makes."""

from __future__ import annotations

import base64
import binascii
import os
import string
from collections.abc import Callable
from typing import Any

from jhe._jhe import ConfigurationError

ENV_KEY = "JHE_EXPORT_KEY"
MASTER_KEY_ID = "jhe-export-key"
KEY_BYTES = (16, 24, 32)
NONCE_BYTES = 12


def _parse_key(key: str | bytes) -> bytes:
    """128, 192 or 256 bits: raw bytes, or text in hex or base64."""
    if isinstance(key, bytes):
        raw = key
    else:
        text = key.strip()
        if len(text) in (2 * n for n in KEY_BYTES) and all(c in string.hexdigits for c in text):
            raw = bytes.fromhex(text)
        else:
            try:
                raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
    if len(raw) not in KEY_BYTES:
        raise ConfigurationError("the encryption key must be 128, 192 or 256 bits, in hex or base64 (e.g. the output of `openssl rand -hex 32`)")
    return raw


def _local_kms_factory(master: bytes, key_id: str) -> Callable[[Any], Any]:
    import pyarrow.parquet.encryption as pe
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    class LocalKms(pe.KmsClient):  # type: ignore[misc]
        """Wraps a file's data keys with the master key (AES-GCM, the key id as associated data)."""

        def wrap_key(self, key_bytes: bytes, master_key_identifier: str) -> str:
            nonce = os.urandom(NONCE_BYTES)
            sealed = AESGCM(master).encrypt(nonce, key_bytes, master_key_identifier.encode())
            return base64.b64encode(nonce + sealed).decode()

        def unwrap_key(self, wrapped_key: str, master_key_identifier: str) -> bytes:
            data = base64.b64decode(wrapped_key)
            try:
                return AESGCM(master).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], master_key_identifier.encode())
            except InvalidTag:
                raise ValueError("this key does not open the file") from None

    def factory(config: Any) -> Any:
        return LocalKms()

    return factory


class Encryption:
    """How an export is encrypted, and how an encrypted file is read back.

    ``Encryption()`` reads the key from ``JHE_EXPORT_KEY``; ``Encryption(key=...)`` takes
    it directly (128, 192 or 256 bits in hex or base64, or bytes). With
    ``kms_client_factory`` (a ``pyarrow.parquet.encryption`` factory: connection config →
    ``KmsClient``) and ``kms_connection_config``, the master key ``key_id`` is the user's
    KMS's instead. The key is never shown, logged or written.
    """

    def __init__(
        self,
        key: str | bytes | None = None,
        *,
        key_id: str = MASTER_KEY_ID,
        kms_client_factory: Callable[[Any], Any] | None = None,
        kms_connection_config: Any = None,
    ) -> None:
        _require()
        if kms_client_factory is not None:
            if key is not None:
                raise ConfigurationError("Encryption takes key= or kms_client_factory=, not both")
            self._factory = kms_client_factory
            self._through = "a KMS client"
        else:
            given = key if key is not None else os.environ.get(ENV_KEY)
            if given is None:
                raise ConfigurationError(f"no encryption key: pass Encryption(key=...) or set {ENV_KEY}")
            self._factory = _local_kms_factory(_parse_key(given), key_id)
            self._through = "a local key"
        self.key_id = key_id
        self._connection = kms_connection_config
        self._crypto: Any = None

    def __repr__(self) -> str:
        return f"jhe.Encryption(key_id={self.key_id!r}, through {self._through})"

    def _factory_of_crypto(self) -> Any:
        import pyarrow.parquet.encryption as pe

        if self._crypto is None:
            self._crypto = pe.CryptoFactory(self._factory)
        return self._crypto

    def _connection_config(self) -> Any:
        import pyarrow.parquet.encryption as pe

        return self._connection if self._connection is not None else pe.KmsConnectionConfig()

    def file_encryption_properties(self) -> Any:
        """For ``pyarrow.parquet.write_table(..., encryption_properties=...)``: every column
        and the footer encrypted with AES-GCM."""
        import pyarrow.parquet.encryption as pe

        config = pe.EncryptionConfiguration(
            footer_key=self.key_id, uniform_encryption=True, plaintext_footer=False, encryption_algorithm="AES_GCM_V1"
        )
        return self._factory_of_crypto().file_encryption_properties(self._connection_config(), config)

    def file_decryption_properties(self) -> Any:
        """For ``pyarrow.parquet.read_table(..., decryption_properties=...)``."""
        import pyarrow.parquet.encryption as pe

        return self._factory_of_crypto().file_decryption_properties(self._connection_config(), pe.DecryptionConfiguration())


def _require() -> None:
    from jhe._convert import _require as require

    require("pyarrow", "encrypt")
    require("cryptography", "encrypt")


def read_parquet(path: str | os.PathLike[str], *, encryption: Encryption | None = None) -> Any:
    """A Parquet file jhe wrote, as a pyarrow Table; an encrypted one needs its ``encryption``."""
    import pyarrow.parquet as pq

    properties = encryption.file_decryption_properties() if encryption is not None else None
    try:
        return pq.read_table(os.fspath(path), decryption_properties=properties)
    except ValueError as exc:
        if "does not open" in str(exc):
            raise ConfigurationError(f"{os.fspath(path)}: this key does not open the file") from None
        raise
    except OSError as exc:
        if "encrypted" in str(exc) and encryption is None:
            raise ConfigurationError(f"{os.fspath(path)} is encrypted: pass encryption=jhe.Encryption(...)") from None
        raise
