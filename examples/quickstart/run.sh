#!/usr/bin/env bash
# hookd quickstart: a receiver on loopback, a webhook with a secret, one
# event, the delivery arriving and in the history.
#
# Run hookd first (in another terminal) with the quickstart configuration,
# which allows deliveries to loopback:
#   make run CONFIG=config/quickstart.conf
# then:
#   HOOKD_TOKEN=<that token> examples/quickstart/run.sh
set -euo pipefail

HOOKD_URL=${HOOKD_URL:-http://127.0.0.1:8080}
: "${HOOKD_TOKEN:?set HOOKD_TOKEN to the admin token hookd printed or was given}"
RECEIVER_PORT=${RECEIVER_PORT:-9876}
SECRET=quickstart-secret
here=$(cd "$(dirname "$0")" && pwd)

api() { curl -sS -H "Authorization: token $HOOKD_TOKEN" "$@"; echo; }

python3 "$here/receiver.py" "$RECEIVER_PORT" "$SECRET" &
receiver=$!
trap 'kill $receiver 2>/dev/null' EXIT
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$RECEIVER_PORT") 2>/dev/null && break
  sleep 0.1
done

echo "== create a stack webhook with a secret"
api -X POST "$HOOKD_URL/api/stacks/acme/web/prod/hooks" -d "{
  \"organizationName\": \"acme\", \"projectName\": \"web\", \"stackName\": \"prod\",
  \"name\": \"quickstart\", \"displayName\": \"Quickstart receiver\",
  \"payloadUrl\": \"http://127.0.0.1:$RECEIVER_PORT/hook\",
  \"secret\": \"$SECRET\", \"active\": true, \"filters\": [\"update_succeeded\"]}"

echo "== post an event"
api -X POST "$HOOKD_URL/api/orgs/acme/events" -d '{
  "event": "update_succeeded", "projectName": "web", "stackName": "prod",
  "user": {"name": "Ann", "githubLogin": "ann", "avatarUrl": ""},
  "data": {"updateUrl": "https://app.example.com/acme/web/prod/updates/4",
           "resourceChanges": {"create": 3}}}'

echo "== the delivery history"
for _ in $(seq 50); do
  history=$(api "$HOOKD_URL/api/stacks/acme/web/prod/hooks/quickstart/deliveries")
  case "$history" in *'"status":"succeeded"'*) break ;; esac
  sleep 0.1
done
echo "$history" | python3 -m json.tool

echo "== clean up"
api -X DELETE "$HOOKD_URL/api/stacks/acme/web/prod/hooks/quickstart"
