"""``--store`` specifications that name a Milvus collection, and the credentials kept out of them.

Three forms (docs/scaling-out.md):

* ``milvus://host:19530/collection`` — a Milvus server or cluster over plain gRPC/HTTP;
* ``milvus+https://host:443/collection`` — the same over TLS (Zilliz Cloud, a TLS-terminated cluster);
* ``milvus+lite:///abs/path/index.db?collection=name`` — milvus-lite, embedded in this process, data in a
  local folder (``milvus+lite://relative.db`` is resolved against the working directory once, here).

The collection defaults to ``unret``. A token (``user:password`` or an API key) is read from
``UNRET_MILVUS_TOKEN`` at connect time and never written into a spec, a saved index or an error message;
a spec carrying credentials is refused so they cannot leak into ``milvus.json``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

TOKEN_ENV = "UNRET_MILVUS_TOKEN"
DEFAULT_COLLECTION = "unret"
_SCHEMES = {"milvus": "http", "milvus+http": "http", "milvus+https": "https"}
_LITE = "milvus+lite"
# Milvus's own rule for collection names: a letter or underscore, then letters, digits, underscores.
_COLLECTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


@dataclass(frozen=True)
class MilvusTarget:
    """Where a Milvus store lives: ``uri`` is what ``MilvusClient`` connects to (a URL or a lite path)."""

    uri: str
    collection: str

    @property
    def lite(self) -> bool:
        return not self.uri.startswith(("http://", "https://"))

    @property
    def spec(self) -> str:
        """The canonical specification (absolute lite path; never a credential)."""
        if self.lite:
            return f"{_LITE}://{self.uri}?collection={self.collection}"
        scheme, rest = self.uri.split("://", 1)
        return f"{'milvus' if scheme == 'http' else 'milvus+https'}://{rest}/{self.collection}"


def parse_spec(spec: str) -> MilvusTarget:
    """The target a specification names; ValueError naming ``spec`` for anything malformed."""
    if not isinstance(spec, str) or "://" not in spec:
        raise ValueError(f"not a Milvus store specification: {spec!r} (expected e.g. "
                         "'milvus://host:19530/collection' or 'milvus+lite:///abs/path/index.db')")
    scheme, rest = spec.split("://", 1)
    if scheme == _LITE:
        return _parse_lite(spec, rest)
    if scheme not in _SCHEMES:
        raise ValueError(f"unknown Milvus scheme {scheme!r} in {spec!r}: use one of "
                         f"{sorted([*_SCHEMES, _LITE])}")
    parts = urlsplit(f"{_SCHEMES[scheme]}://{rest}")
    if parts.username or parts.password:
        raise ValueError(f"the Milvus specification for host {parts.hostname!r} carries credentials; put them in "
                         f"${TOKEN_ENV} instead (they would otherwise be saved with the index)")
    if not parts.hostname:
        raise ValueError(f"no host in Milvus specification {spec!r}")
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"bad port in Milvus specification {spec!r}: {e}") from e
    if parts.query or parts.fragment:
        raise ValueError(f"unexpected '?…' or '#…' in Milvus specification {spec!r}; the collection is the path")
    collection = _collection(spec, parts.path.strip("/") or DEFAULT_COLLECTION)
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    return MilvusTarget(f"{parts.scheme}://{netloc}", collection)


def _parse_lite(spec: str, rest: str) -> MilvusTarget:
    path, _, query = rest.partition("?")
    if not path:
        raise ValueError(f"no file in milvus-lite specification {spec!r} (e.g. 'milvus+lite:///abs/path/index.db')")
    options = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    unknown = set(options) - {"collection"}
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)} in {spec!r}; only 'collection' is understood")
    collection = options.get("collection", [DEFAULT_COLLECTION])[-1]
    return MilvusTarget(os.path.abspath(os.path.expanduser(path)), _collection(spec, collection))


def _collection(spec: str, name: str) -> str:
    if not _COLLECTION.fullmatch(name):
        raise ValueError(f"bad Milvus collection name {name!r} in {spec!r}: letters, digits and underscores, "
                         "starting with a letter or underscore, at most 255 characters")
    return name


def token() -> str:
    """The credential for a server, from the environment ('' when none: an open server or milvus-lite)."""
    return os.environ.get(TOKEN_ENV, "")
