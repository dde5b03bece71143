"""Reading the guide text: existence, encoding, hash, and the --strict check."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ingest.errors import IngestError


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vendored_sha256(sha_path: Path) -> str | None:
    if not sha_path.is_file():
        return None
    return sha_path.read_text(encoding="utf-8").split()[0].strip()


def read_guide(path: Path, *, strict_sha256: str | None = None) -> tuple[str, str]:
    """Return (text, sha256). Raise IngestError with one clear line on bad input."""
    path = Path(path)
    if not path.exists():
        raise IngestError("guide_missing", f"guide file not found: {path}")
    if not path.is_file():
        raise IngestError("guide_not_file", f"not a regular file: {path}")
    data = path.read_bytes()
    if not data.strip():
        raise IngestError("guide_empty", f"guide file is empty: {path}")
    if b"\x00" in data[:65536]:
        raise IngestError("guide_binary", f"guide file looks binary (NUL bytes), expected UTF-8 text: {path}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError("guide_encoding", f"guide file is not valid UTF-8 (byte {exc.start}): {path}") from None
    digest = sha256_bytes(data)
    if strict_sha256 is not None and digest != strict_sha256:
        raise IngestError(
            "guide_hash_mismatch",
            f"--strict: sha256 {digest[:12]}… differs from the vendored {strict_sha256[:12]}…: {path}",
        )
    return text.replace("\r\n", "\n").lstrip("\ufeff"), digest
