"""Write the host's effective pip settings to a pip.conf for an image build, and list the local paths they use.

The build must reach the same packages as the host (on the project's machines: extra indexes and find-links
that are folders on local disk, a constraints file, a CA bundle), yet none of it may end up in the image. The
build script mounts the written file and every listed path read-only for the build only; the Dockerfile reads
the file through the ``PIP_CONFIG_FILE`` build argument.

Usage: ``python pip_settings.py OUT/pip.conf`` prints the paths to mount, one a line.
"""

from __future__ import annotations

import ast
import configparser
import os
import subprocess
import sys
from urllib.parse import unquote, urlparse

# Options that name packages' locations or trust; the rest (timeouts, retries) are copied too but point nowhere.
LOCATION_OPTIONS = {"index-url", "extra-index-url", "find-links", "cert", "client-cert", "constraint"}
# Options that would change where or how the image's packages are installed, not where they come from.
SKIPPED_OPTIONS = {"cache-dir", "log", "target", "prefix", "root", "src", "user", "require-virtualenv",
                   "no-cache-dir", "break-system-packages", "config-file"}


def host_settings() -> dict[str, dict[str, str]]:
    """The host's pip settings by section, as ``pip config list`` shows them; environment variables win."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=True).stdout
    sections: dict[str, dict[str, str]] = {}
    from_environment = {}
    for line in listed.splitlines():
        name, _, value = line.partition("=")
        section, _, option = name.rpartition(".")
        if not option or option in SKIPPED_OPTIONS:
            continue
        value = ast.literal_eval(value)
        if section == ":env:":
            from_environment[option] = value
        else:
            sections.setdefault(section, {})[option] = value
    for option, value in from_environment.items():  # PIP_* variables override every file
        for options in sections.values():
            options.pop(option, None)
        sections.setdefault("global", {})[option] = value
    return sections


def local_paths(sections: dict[str, dict[str, str]]) -> list[str]:
    """Files and folders on this machine that the settings name (``file://`` URLs or absolute paths)."""
    paths = []
    for options in sections.values():
        for option, value in options.items():
            if option not in LOCATION_OPTIONS:
                continue
            for token in value.split():
                path = unquote(urlparse(token).path) if token.startswith("file:") else token
                if not (os.path.isabs(path) and os.path.exists(path)):
                    continue
                if option.endswith("index-url"):
                    # A local index's pages link to files beside it (``simple/x/`` -> ``../../files/``): mount
                    # the folder that holds the index.
                    path = os.path.dirname(path.rstrip("/"))
                paths.append(os.path.realpath(path))
    return sorted(set(paths))


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    sections = host_settings()
    config = configparser.ConfigParser(interpolation=None)
    for section, options in sections.items():
        config[section] = options
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        config.write(handle)
    for path in local_paths(sections):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
