"""Print, as JSON, what one service's own code says about its part in the deployment.

Run inside the service's Django settings (``DJANGO_SETTINGS_MODULE=<service>_site.settings``)
by ``deploy/tools/generate.py`` and by the tests in ``tests/deploy``; both call it the same
way, with different environments, so the cluster's manifests and the local stack come from
the same functions:

* ``connectors``: ``EVENTING['CONNECTORS']`` called exactly as ``manage.py eventing_connectors
  apply`` calls them (``configured_connectors()``), i.e. what the local stack posts to Connect;
* ``topics``: the topics the service publishes to (declared, owned event types and the
  connectors' target topics) and, per consumer group, the topics it reads and its dead-letter
  topics (``EVENTING['DEAD_LETTER_TOPIC']``);
* ``consumer_shutdown_timeout``: ``EVENTING['CONSUMER_SHUTDOWN_TIMEOUT']``.
"""

from __future__ import annotations

import json
import sys

import django


def main(groups: list[str]) -> None:
    django.setup()
    from eventing.conf import eventing_settings
    from eventing.consumer.registry import registry
    from eventing.events import catalog
    from eventing.management.commands.eventing_connectors import configured_connectors

    connectors = configured_connectors()
    consumed = {group: registry.for_group(group).topics() for group in groups}
    result = {
        "connectors": [{"name": c.name, "config": c.config} for c in connectors],
        "published_topics": sorted({t.topic for t in catalog.owned()}),
        "consumed_topics": consumed,
        "dead_letter_topics": {
            group: [eventing_settings.DEAD_LETTER_TOPIC.format(group=group, topic=t) for t in topics]
            for group, topics in consumed.items()
        },
        "consumer_shutdown_timeout": float(eventing_settings.CONSUMER_SHUTDOWN_TIMEOUT),
    }
    json.dump(result, sys.stdout, indent=2, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
