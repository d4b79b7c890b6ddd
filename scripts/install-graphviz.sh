#!/bin/sh
# Install Graphviz's `dot` through the system package manager when it is missing.
# Exits 0 when dot is available afterwards; otherwise says what to do and exits 1.
set -u
command -v dot >/dev/null 2>&1 && exit 0

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

echo "Graphviz's dot is missing; installing it with the system package manager..." >&2
if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -qq graphviz >/dev/null 2>&1 ||
        { as_root apt-get update -qq >/dev/null 2>&1 && as_root apt-get install -y -qq graphviz >/dev/null 2>&1; }
elif command -v dnf >/dev/null 2>&1; then
    as_root dnf install -y -q graphviz >/dev/null 2>&1
elif command -v brew >/dev/null 2>&1; then
    brew install graphviz >/dev/null 2>&1
fi

if command -v dot >/dev/null 2>&1; then
    echo "installed: $(dot -V 2>&1)" >&2
    exit 0
fi
echo "Could not install Graphviz (needs root or passwordless sudo, or a known package manager)." >&2
echo "Install it yourself: sudo apt-get install graphviz | sudo dnf install graphviz | brew install graphviz" >&2
exit 1
