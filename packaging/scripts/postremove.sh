#!/bin/sh
# After removal (deb: $1 is remove, purge or upgrade; rpm: $1 is 0 on erase).
# The data in /var/lib/agentops (database, instance key, workspaces) is never
# deleted by the package manager: remove it yourself once it is backed up.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
if [ "$1" = purge ]; then
  rm -rf /etc/agentops
  if getent passwd agentops >/dev/null 2>&1; then userdel agentops >/dev/null 2>&1 || true; fi
  if getent group agentops >/dev/null 2>&1; then groupdel agentops >/dev/null 2>&1 || true; fi
  if [ -d /var/lib/agentops ]; then
    echo "agentops purged; its data is kept in /var/lib/agentops (remove it yourself when no longer needed)"
  fi
fi
exit 0
