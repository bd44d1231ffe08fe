#!/usr/bin/env sh
# Best effort: make Debian's chromium available for the gallery's browser test (tests/test_gallery_browser.py).
# Quiet no-op when a chromium is already installed; apt-get install when root with apt; never fails the caller.
for name in chromium chromium-browser google-chrome; do
    command -v "$name" >/dev/null 2>&1 && exit 0
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_chromium: installing Debian's chromium for the browser test (apt-get) ..." >&2
    (apt-get install -y -q chromium >/dev/null 2>&1 \
        || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
        || echo "ensure_chromium: could not install chromium; the browser test will be skipped." >&2
else
    echo "ensure_chromium: no chromium and no root apt-get; the browser test will be skipped." >&2
fi
exit 0
