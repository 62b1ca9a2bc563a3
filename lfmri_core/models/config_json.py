"""Model configurations as versioned JSON (stored beside or inside safetensors weights)."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from lfmri_core.errors import InputError


def dump_config(config: Any, format_name: str, version: int) -> str:
    """A frozen-dataclass configuration as a JSON object tagged with its format and version."""
    return json.dumps({"format": format_name, "version": version, **asdict(config)}, sort_keys=True)


def load_config_fields(
    cls: type, text: str, *, format_name: str, version: int, what: str, source: str
) -> dict[str, Any]:
    """Check :func:`dump_config` output for ``cls`` and return its fields.

    ``what`` names the configuration in messages (``"classifier"``, ``"LF-MRI"``); anything
    that is not such a configuration raises a one-line :class:`InputError` naming ``source``.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{source}: {what} config is not valid JSON ({err.msg})") from None
    if not isinstance(data, dict) or data.get("format") != format_name:
        raise InputError(f"{source}: not an {format_name} config (format {format_name!r} expected)")
    if data.get("version") != version:
        raise InputError(f"{source}: unsupported {what} config version {data.get('version')!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known - {"format", "version"})
    if unknown:
        raise InputError(f"{source}: unknown {what} config fields {', '.join(unknown)}")
    return {k: v for k, v in data.items() if k in known}
