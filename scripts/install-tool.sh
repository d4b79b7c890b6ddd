#!/bin/sh
# Usage: install-tool.sh COMMAND PACKAGE
# Install a Debian PACKAGE with apt-get when COMMAND is missing (needs root or passwordless sudo).
# Exits 0 when COMMAND is available afterwards; otherwise says what to do and exits 1.
set -u
command="$1"
package="$2"
command -v "$command" >/dev/null 2>&1 && exit 0

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

if command -v apt-get >/dev/null 2>&1; then
    echo "$command is missing; installing $package with apt-get..." >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -qq "$package" >/dev/null 2>&1 ||
        { as_root apt-get update -qq >/dev/null 2>&1 && as_root apt-get install -y -qq "$package" >/dev/null 2>&1; }
fi
command -v "$command" >/dev/null 2>&1 && exit 0
echo "Could not install $package (needs apt-get, and root or passwordless sudo): install it yourself." >&2
exit 1
