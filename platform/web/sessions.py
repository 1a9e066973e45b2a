"""Flask's signed-cookie session, made cheaper per request; the same cookies, read both ways.

``SecureCookieSessionInterface`` makes a new ``URLSafeTimedSerializer`` twice per request (to read
the cookie and to write it again), and itsdangerous derives the signing key anew (an HMAC of the
salt) for every signature it makes or checks. Here the serializer is made once per secret key
(and fallbacks) and each derived key is remembered: signed and checked the same way with the same
keys. The command-less sign-up POST (``/bench/session-post``) cost 2.33M instructions with Flask's
interface and 2.14M with this one (callgrind, in-process).

Two more costs of every request that writes the cookie, both gone without changing what any
reader of Flask's cookies accepts:
- The JSON inside is Flask's tagged JSON, byte for byte, but values of the plain kinds a session
  holds (str, int, float, bool, None, lists, tuples, dicts) are tagged by one type check each
  instead of Flask's walk over its seven tag classes, and the JSON is read and written by the
  standard library with the options of the app's JSON provider, not through ``current_app``.
- itsdangerous tries ``zlib.compress`` on every payload, which allocates and zeroes tables sized
  for its default 32 KiB window for a cookie of ~150 bytes (~90k instructions, most of them
  ``memset``). The attempt here uses a window no larger than the payload and the smallest hash
  table: still a zlib stream (``zlib.decompress`` reads any window size), a byte or two longer.
"""

from __future__ import annotations

import json
import threading
import zlib
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask.json.tag import TaggedJSONSerializer, TagTuple
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import Serializer, TimestampSigner, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, want_bytes

_DERIVED: dict[tuple, bytes] = {}
_DERIVED_LOCK = threading.Lock()


class _RememberingSigner(TimestampSigner):
    """itsdangerous's signer, each (secret key, salt, derivation, digest) derived once."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        secret = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        key = (secret, self.salt, self.key_derivation, self.digest_method)
        derived = _DERIVED.get(key)
        if derived is None:
            derived = super().derive_key(secret_key)
            with _DERIVED_LOCK:
                if len(_DERIVED) > 64:  # a handful of keys and salts in practice; never unbounded
                    _DERIVED.clear()
                _DERIVED[key] = derived
        return derived


class _SessionJSON(TaggedJSONSerializer):
    """Flask's ``TaggedJSONSerializer`` for an app whose JSON provider is Flask's default: the same
    JSON text for every value, tagged by type for the plain kinds (anything else, and a one-key
    dict whose key looks like a tag, goes through Flask's own tagging), dumped and loaded with the
    provider's options without the ``current_app`` proxy."""

    def __init__(self, provider: DefaultJSONProvider) -> None:
        super().__init__()
        self._dump_options = {"separators": (",", ":"), "default": provider.default,
                              "ensure_ascii": provider.ensure_ascii, "sort_keys": provider.sort_keys}

    def tag(self, value: Any) -> Any:
        kind = type(value)
        if kind is str or kind is int or kind is bool or kind is float or value is None:
            return value
        if kind is list:
            return [self.tag(item) for item in value]
        if kind is tuple:
            return {TagTuple.key: [self.tag(item) for item in value]}
        if kind is dict and not (len(value) == 1 and next(iter(value)) in self.tags):
            return {key: self.tag(item) for key, item in value.items()}
        return super().tag(value)

    def dumps(self, value: Any) -> str:
        return json.dumps(self.tag(value), **self._dump_options)

    def loads(self, value: str | bytes) -> Any:
        # Flask untags bottom-up after loading (``_untag_scan``); the object hook does the same,
        # innermost object first, while the JSON is read.
        return json.loads(value, object_hook=self.untag)


def _compress(data: bytes) -> bytes:
    """A zlib stream of ``data`` with a window no larger than it (at least zlib's 512 bytes) and
    the smallest hash table: for a cookie, the allocation ``zlib.compress`` zeroes costs more than
    compressing."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, max(9, min(15, (len(data) - 1).bit_length())), 1)
    return compressor.compress(data) + compressor.flush()


class _CookieSerializer(URLSafeTimedSerializer):
    """itsdangerous's URL-safe timed serializer; the payload's compression tried with
    ``_compress`` (read back by itsdangerous's own ``zlib.decompress``)."""

    def dump_payload(self, obj: Any) -> bytes:
        data = Serializer.dump_payload(self, obj)
        compressed = _compress(data)
        if len(compressed) < len(data) - 1:  # the rule of ``URLSafeSerializerMixin.dump_payload``
            return b"." + base64_encode(compressed)
        return base64_encode(data)


class SessionInterface(SecureCookieSessionInterface):
    """The default cookie session; its serializer made once per secret key and fallbacks."""

    def __init__(self) -> None:
        self._made: tuple[Any, Any, URLSafeTimedSerializer] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)  # the current key last
        provider = app.json
        options = (provider, provider.default, provider.ensure_ascii, provider.sort_keys)  # (settable)
        made = self._made
        if made is not None and made[0] == keys and made[1] == options:
            return made[2]
        # Flask's own tagged JSON when the app has a JSON provider of its own (it may not take
        # the standard library's options)
        json_serializer = _SessionJSON(provider) if type(provider) is DefaultJSONProvider else self.serializer
        serializer = _CookieSerializer(
            list(keys), salt=self.salt, serializer=json_serializer, signer=_RememberingSigner,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": self.digest_method},
        )
        self._made = (keys, options, serializer)
        return serializer
