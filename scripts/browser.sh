#!/usr/bin/env bash
# The headless browser the postmortems page is tested in (tests/reports/test_postmortems_page.py):
# Debian's chromium and chromium-driver. Installed when missing and we may (as root); otherwise the
# exact command is printed, and that one test skips saying the same.
set -euo pipefail
command -v chromedriver >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "browser: installing Debian's chromium and chromium-driver for the page test" >&2
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
else
  echo "browser: chromium-driver missing; the page test will skip. Install it with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends chromium chromium-driver" >&2
fi
