#!/bin/sh
# After install or upgrade (deb: configure; rpm: $1 is 1 on install, 2 on upgrade).
set -e
if ! getent group agentops >/dev/null 2>&1; then
  groupadd --system agentops
fi
if ! getent passwd agentops >/dev/null 2>&1; then
  useradd --system --gid agentops --home-dir /var/lib/agentops --no-create-home \
    --shell /usr/sbin/nologin --comment "agentops service" agentops
fi
install -d -o agentops -g agentops -m 0750 /var/lib/agentops
chgrp agentops /etc/agentops/agentops.env 2>/dev/null || true
chmod 0640 /etc/agentops/agentops.env 2>/dev/null || true
# Talk to systemd only when it runs (not in containers or chroots).
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  if systemctl is-active --quiet agentops; then
    # An upgrade: the new binary takes over; runners keep their turns.
    systemctl try-restart agentops >/dev/null 2>&1 || true
  else
    echo "agentops installed. Start it with: systemctl enable --now agentops"
  fi
fi
exit 0
