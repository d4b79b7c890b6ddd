#!/bin/sh
# Install Debian's `chromium` (the headless browser the HTML review and dashboard tests open) and `chromium-driver`
# (chromedriver, through which the dashboard test clicks) when either is missing.
# Exits 0 when both are available afterwards; otherwise says what to do and exits 1.
set -u
have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
have && exit 0

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

if command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }; then
    echo "chromium or chromium-driver is missing; installing them with apt-get (a few minutes)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 ||
        { as_root apt-get update -qq >/dev/null 2>&1 &&
          as_root apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; }
fi

if have; then
    echo "installed: $(chromium --version 2>/dev/null || echo chromium), $(chromedriver --version 2>/dev/null | head -1)" >&2
    exit 0
fi
echo "Could not install chromium and chromium-driver (needs apt-get, and root or passwordless sudo)." >&2
echo "Install them yourself (Debian/Ubuntu: sudo apt-get install chromium chromium-driver), or the browser tests skip." >&2
exit 1
