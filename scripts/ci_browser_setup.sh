#!/usr/bin/env bash
# Installs the browser the app's browser test drives: Debian's chromium and its matching chromedriver.
# Kept out of the tests on purpose (a test must not install system packages); CI runs this once, then
# the tests with RESTORE_REQUIRE_BROWSER=1 so a missing browser fails instead of skipping.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
/usr/bin/chromium --version
