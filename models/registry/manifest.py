"""The manifest of one registered model version: what it was built from, how, and a checksum of every file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.embedding.encoder import MANIFEST_NAME, file_sha256

MANIFEST_FORMAT = 1
KINDS = ("generator", "encoder")


@dataclass(frozen=True)
class Manifest:
    """manifest.json of <root>/<name>/<version>/; `data` keeps every recorded field, the attributes the common ones."""

    path: Path
    name: str
    version: str
    kind: str
    quantization: str
    source: dict[str, Any]
    files: dict[str, dict[str, Any]]
    total_bytes: int
    created_at: str
    quality: dict[str, Any]
    data: dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, model_dir: Path) -> Manifest:
        """Read model_dir/manifest.json; a missing or malformed manifest raises ValueError naming the file."""
        path = Path(model_dir) / MANIFEST_NAME
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                path=Path(model_dir),
                name=str(data["name"]),
                version=str(data["version"]),
                kind=str(data["kind"]),
                quantization=str(data["quantization"]),
                source=dict(data["source"]),
                files=dict(data["files"]),
                total_bytes=int(data["total_bytes"]),
                created_at=str(data["created_at"]),
                quality=dict(data.get("quality") or {}),
                data=data,
            )
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"unreadable model manifest {path}: {exc}") from exc

    def verify(self, *, full: bool = True) -> list[str]:
        """Problems found with the files on disk (empty when intact); full=False checks sizes only.

        Every listed file must be a plain name inside the model directory (a symlink may not lead out of it), and
        with full=True its content must have the sha256 the manifest records.
        """
        problems: list[str] = []
        inside = self.path.resolve()
        for name, entry in sorted(self.files.items()):
            file = self.path / name
            if Path(name).name != name or name in ("", ".", "..") or not isinstance(entry, dict):
                problems.append(f"{name!r}: not a plain file name")
            elif not file.resolve().is_relative_to(inside):
                problems.append(f"{name}: resolves outside the model directory")
            elif not file.is_file():
                problems.append(f"{name}: missing")
            elif file.stat().st_size != entry.get("bytes"):
                problems.append(f"{name}: {file.stat().st_size} bytes, manifest says {entry.get('bytes')}")
            elif full and file_sha256(file) != entry.get("sha256"):
                problems.append(f"{name}: sha256 differs from the manifest")
        return problems


def file_entries(model_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 and bytes of every file in model_dir except the manifest itself (it cannot checksum itself)."""
    return {
        p.name: {"sha256": file_sha256(p), "bytes": p.stat().st_size}
        for p in sorted(Path(model_dir).iterdir())
        if p.is_file() and p.name != MANIFEST_NAME
    }


def write_manifest(model_dir: Path, data: dict[str, Any]) -> Manifest:
    """Add file checksums and totals to data, write it as model_dir/manifest.json, and return it loaded."""
    files = file_entries(model_dir)
    full = {"format": MANIFEST_FORMAT, **data, "files": files, "total_bytes": sum(e["bytes"] for e in files.values())}
    (Path(model_dir) / MANIFEST_NAME).write_text(
        json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return Manifest.load(model_dir)
