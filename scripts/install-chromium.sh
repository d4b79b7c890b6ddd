#!/bin/sh
# Install Debian's `chromium` (the headless browser the HTML review test opens) when it is missing.
# Exits 0 when chromium is available afterwards; otherwise says what to do and exits 1.
set -u
command -v chromium >/dev/null 2>&1 && exit 0

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }; then
    echo "chromium is missing; installing it with apt-get (a few minutes)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -qq chromium >/dev/null 2>&1 ||
        { as_root apt-get update -qq >/dev/null 2>&1 && as_root apt-get install -y -qq chromium >/dev/null 2>&1; }
fi

if command -v chromium >/dev/null 2>&1; then
    echo "installed: $(chromium --version 2>/dev/null || echo chromium)" >&2
    exit 0
fi
echo "Could not install chromium (needs apt-get, and root or passwordless sudo)." >&2
echo "Install it yourself (Debian/Ubuntu: sudo apt-get install chromium), or the HTML review test skips." >&2
exit 1
