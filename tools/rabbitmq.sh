#!/usr/bin/env bash
# Install (Debian's rabbitmq-server) and start a RabbitMQ broker listening on loopback
# only, for the agent's multi-host tests. Idempotent. Prints the transport URL.
#
#   bash tools/rabbitmq.sh          # start (installing if needed); prints rabbit://...
#   bash tools/rabbitmq.sh stop
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
USER_NAME=inject
USER_PASS=inject-test
VHOST=inject
URL="rabbit://$USER_NAME:$USER_PASS@127.0.0.1:5672/$VHOST"

# Loopback only: AMQP, the Erlang distribution port and epmd.
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_NODENAME=rabbit@localhost
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"

if [ "${1:-}" = stop ]; then
  rabbitmqctl -n "$RABBITMQ_NODENAME" stop >/dev/null 2>&1 || true
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "rabbitmq: installing rabbitmq-server" >&2
  apt-get update -q >&2
  # the package's own service start needs systemd; it is started below instead
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends rabbitmq-server >&2
  rm -f /usr/sbin/policy-rc.d
fi

if ! rabbitmqctl -n "$RABBITMQ_NODENAME" status >/dev/null 2>&1; then
  echo "rabbitmq: starting the broker on 127.0.0.1:5672" >&2
  mkdir -p /var/lib/rabbitmq /var/log/rabbitmq
  chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq 2>/dev/null || true
  rabbitmq-server -detached >&2
  for _ in $(seq 1 60); do
    rabbitmqctl -n "$RABBITMQ_NODENAME" await_startup >/dev/null 2>&1 && break
    sleep 1
  done
  rabbitmqctl -n "$RABBITMQ_NODENAME" await_startup >&2
fi

rabbitmqctl -n "$RABBITMQ_NODENAME" list_users -q | grep -q "^$USER_NAME\b" \
  || rabbitmqctl -n "$RABBITMQ_NODENAME" add_user "$USER_NAME" "$USER_PASS" >&2
rabbitmqctl -n "$RABBITMQ_NODENAME" list_vhosts -q | grep -qx "$VHOST" \
  || rabbitmqctl -n "$RABBITMQ_NODENAME" add_vhost "$VHOST" >&2
rabbitmqctl -n "$RABBITMQ_NODENAME" set_permissions -p "$VHOST" "$USER_NAME" '.*' '.*' '.*' >&2
echo "$URL"
