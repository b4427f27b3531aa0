"""Device profiles: where a meter keeps each quantity, and how to turn it into reading units.

A profile is a YAML file (see ``profiles/*.yaml`` and README.md); a new meter model needs a
new file, never new code. Every mistake raises :class:`~.errors.ProfileError` naming the
file, the line and the field.

This module is the public face: the quantities and specs (:mod:`.profile_specs`), reading
a profile's text (:mod:`.profile_file`), and finding a profile - shipped with the bridge
(``profiles/*.yaml``) or a file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import ProfileError
from .profile_file import parse_profile
from .profile_specs import (
    ALARM_QUANTITIES,
    DATATYPES,
    FUNCTIONS,
    QUANTITIES,
    STATUSES,
    BitSpec,
    Profile,
    QuantityKind,
    RegisterSpec,
    SerialSettings,
    iter_specs,
)

__all__ = ["ALARM_QUANTITIES", "DATATYPES", "FUNCTIONS", "QUANTITIES", "STATUSES", "BitSpec",
           "Profile", "QuantityKind", "RegisterSpec", "SerialSettings", "builtin_profile",
           "builtin_profiles", "iter_specs", "load_profile", "parse_profile",
           "resolve_profile"]


def load_profile(path: str | Path) -> Profile:
    """Load a profile file; raises ProfileError (also for an unreadable file)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(str(path), None, "file", f"cannot read: {exc}") from None
    return parse_profile(text, str(path))


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with the bridge (file stems under profiles/)."""
    folder = resources.files(__package__).joinpath("profiles")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def builtin_profile(name: str) -> Profile:
    """A shipped profile by name (e.g. ``eastron-sdm630``)."""
    if name not in builtin_profiles():
        raise ProfileError(name, None, "name",
                           f"no such built-in profile; have {', '.join(builtin_profiles())}")
    resource = resources.files(__package__).joinpath("profiles", f"{name}.yaml")
    return parse_profile(resource.read_text(encoding="utf-8"), f"profiles/{name}.yaml")


def resolve_profile(name_or_path: str) -> Profile:
    """A built-in profile name, or a path to a profile file."""
    if name_or_path in builtin_profiles():
        return builtin_profile(name_or_path)
    return load_profile(name_or_path)
