#!/bin/sh
# Before removal (deb: $1 is remove or upgrade; rpm: $1 is 0 on erase, 1 on upgrade).
set -e
case "$1" in
  remove|0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now agentops >/dev/null 2>&1 || true
    fi
    ;;
esac
exit 0
