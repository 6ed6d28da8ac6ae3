"""Request ids are the UUID5 of worker and sequence number, as the truth file joins them."""

from __future__ import annotations

import uuid

from loadgen.swarm.exchange import _REQUEST_ID_NAMESPACE, request_id


def test_request_id_is_the_uuid5_of_worker_and_seq() -> None:
    for worker in ("w1", "vm:1952", "hôte:7"):
        for seq in (0, 1, 99, 123_456_789):
            expected = str(uuid.uuid5(_REQUEST_ID_NAMESPACE, f"{worker}-{seq}"))
            assert request_id(worker, seq) == expected
