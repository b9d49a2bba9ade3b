#!/usr/bin/env bash
# The seed's demo, unchanged in substance, against the running stack (`make demo` starts it):
#   1. create a customer in the customers service (REST, basic auth)
#   2. create an order for that customer in the orders service
#   3. read the points awarded by the points service
# Instead of the seed's `sleep 2`, step 3 polls until the award includes the order and
# prints how long eventual consistency took.
set -euo pipefail

username=${DEV_SUPERUSER_USERNAME:-root}
password=${DEV_SUPERUSER_PASSWORD:-P@ssw0rd1}
customers=http://localhost:${CUSTOMERS_PORT:-8001}
orders=http://localhost:${ORDERS_PORT:-8002}
points=http://localhost:${POINTS_PORT:-8003}
item_count=3340000
expected=$(python3 -c "print($item_count / 42)")
timeout_s=${DEMO_TIMEOUT:-60}

show() { printf '\n\033[1m%s\033[0m\n' "$*"; }

show "# create a customer:"
echo "curl -s -u $username:**** -H 'Accept: application/json; indent=4' -H 'Content-Type: application/json' \\"
echo "    -d '{\"first_name\": \"Bart\", \"last_name\": \"Simpson\", \"date_established\": \"1980-02-23T00:00:00Z\"}' \\"
echo "    $customers/api/customers/ | jq -r \".id\""
customer_id=$(curl -s -u "$username:$password" -H 'Accept: application/json; indent=4' \
    -H 'Content-Type: application/json' \
    -d '{"first_name": "Bart", "last_name": "Simpson", "date_established": "1980-02-23T00:00:00Z"}' \
    "$customers/api/customers/" | jq -r ".id")
echo "${customer_id}"

show "# create an order:"
echo "curl -s -u $username:**** -H 'Accept: application/json; indent=4' -H 'Content-Type: application/json' \\"
echo "    -d '{\"customer_id\": \"$customer_id\",  \"item_count\": $item_count}' $orders/api/orders/"
started=$(date +%s.%N)
curl -s -u "$username:$password" -H 'Accept: application/json; indent=4' \
    -H 'Content-Type: application/json' \
    -d '{"customer_id": "'"$customer_id"'",  "item_count": '"$item_count"'}' \
    "$orders/api/orders/"
echo

show "# wait for eventual consistency (polling, instead of the seed's sleep 2)..."
deadline=$(( $(date +%s) + timeout_s ))
while :; do
  award=$(curl -s -u "$username:$password" -H 'Accept: application/json' "$points/api/award/$customer_id/")
  if [ "$(echo "$award" | jq -r '.points // empty')" = "$expected" ]; then break; fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "the award did not reach $expected within ${timeout_s}s (last answer: $award)" >&2
    echo "check \`make status\` and \`make logs\`" >&2
    exit 1
  fi
  sleep 0.1
done
elapsed=$(python3 -c "import time; print(f'{time.time() - $started:.2f}')")
echo "consistent ${elapsed}s after the order was created"

show "# get points awarded"
echo "curl -H 'Accept: application/json; indent=4' -u $username:**** $points/api/award/$customer_id/"
curl -s -H 'Accept: application/json; indent=4' -u "$username:$password" "$points/api/award/$customer_id/"
echo
