"""The session's teardown deletes what the session created on the shared stack, and only that."""

from __future__ import annotations

import uuid

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from eventing.conf import eventing_settings
from eventing.consumer.kafka import ensure_topics
from eventing.testing import eventually
from tests.integration.conftest import remove_residue

pytestmark = pytest.mark.integration


def test_residue_removal_deletes_the_sessions_topics_and_subjects_only() -> None:
    # Given a topic, a dead-letter topic and a subject of a session, and a topic of another
    session, other = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]
    mine = [f"eventing_tests_accounts_{session}", f"tests.g.eventing_tests_accounts_{session}.dlt"]
    theirs = f"eventing_tests_accounts_{other}"
    ensure_topics([*mine, theirs])
    base = str(eventing_settings.SCHEMA_REGISTRY_URL).rstrip("/")
    schema = '{"type": "record", "name": "R", "fields": []}'
    httpx.post(f"{base}/subjects/{mine[0]}-value/versions", json={"schema": schema}).raise_for_status()
    # ...and a group of the session that consumed and committed, then left
    group = f"reader-{session}"
    reader = Consumer(eventing_settings.kafka_config(**{"group.id": group, "auto.offset.reset": "earliest"}))
    reader.subscribe([mine[0]])
    eventually(lambda: reader.consume(1, 0.2) is not None and reader.assignment(), timeout=30)
    reader.commit(offsets=[TopicPartition(mine[0], p, 0) for p in range(3)], asynchronous=False)
    reader.close()
    try:
        # When the session's residue is removed
        topics, subjects, groups = remove_residue(session)
        # Then its topics, subject and group are gone, and the other session's topic is not
        assert topics == sorted(mine) and subjects == [f"{mine[0]}-value"] and groups == [group]
        admin = AdminClient(eventing_settings.kafka_config())
        listed = admin.list_consumer_groups(request_timeout=10).result()
        assert group not in {g.group_id for g in listed.valid}
        assert f"{mine[0]}-value" not in httpx.get(f"{base}/subjects").json()
        left = set(admin.list_topics(timeout=10).topics)
        assert theirs in left
        assert not set(mine) & left
    finally:
        remove_residue(other)
