"""Inclusion and consistency proofs served by the hub, checked with the test's own RFC 9162 verifier
against roots the test computes itself from the events' columns, for every tree size up to 17 and for
sizes around powers of two up to 129."""

from __future__ import annotations

import random

from fastapi.testclient import TestClient

from hub.context import Hub
from tests.audit import rfc9162
from tests.audit.conftest import append_events, stored_leaf_hashes

SMALL = range(1, 18)  # every leaf and every first size
LARGER = (31, 32, 33, 63, 64, 65, 100, 127, 128, 129)  # a sample of leaves and first sizes


def inclusion(client: TestClient, leaf_index: int, tree_size: int) -> tuple[bytes, list[bytes]]:
    response = client.get(
        "/v1/audit/proofs/inclusion", params={"leaf_index": leaf_index, "tree_size": tree_size}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["leaf_index"], body["tree_size"]) == (leaf_index, tree_size)
    return rfc9162.b64(body["leaf_hash"]), [rfc9162.b64(h) for h in body["audit_path"]]


def consistency(client: TestClient, first: int, second: int) -> list[bytes]:
    response = client.get("/v1/audit/proofs/consistency", params={"first": first, "second": second})
    assert response.status_code == 200, response.text
    return [rfc9162.b64(h) for h in response.json()["consistency"]]


def test_proofs_verify_for_many_tree_sizes(client: TestClient, hub: Hub) -> None:
    append_events(hub, max(LARGER), per_transaction=43)
    leaves = stored_leaf_hashes(hub)
    assert len(leaves) == max(LARGER)
    roots = {n: rfc9162.mth(leaves[:n]) for n in [*SMALL, *LARGER]}
    rng = random.Random(9162)

    for n in [*SMALL, *LARGER]:
        chosen = range(n) if n in SMALL else sorted({0, n // 2, n - 1, *rng.sample(range(n), 4)})
        for m in chosen:
            leaf, path = inclusion(client, m, n)
            assert leaf == leaves[m]
            assert rfc9162.verify_inclusion(m, n, leaf, path, roots[n]), (m, n)
        firsts = range(1, n) if n in SMALL else sorted({1, n // 2, n - 1, *rng.sample(range(1, n), 3)})
        for m in firsts:
            assert rfc9162.verify_consistency(m, n, roots[m] if m in roots else rfc9162.mth(leaves[:m]),
                                              roots[n], consistency(client, m, n)), (m, n)  # fmt: skip


def test_the_verifier_rejects_a_wrong_proof(client: TestClient, hub: Hub) -> None:
    """The checks above could fail: another leaf, another root, a flipped bit, a short path all fail."""
    append_events(hub, 13)
    leaves = stored_leaf_hashes(hub)
    root = rfc9162.mth(leaves)
    leaf, path = inclusion(client, 5, 13)
    assert rfc9162.verify_inclusion(5, 13, leaf, path, root)
    assert not rfc9162.verify_inclusion(6, 13, leaf, path, root)
    assert not rfc9162.verify_inclusion(5, 13, leaves[4], path, root)
    assert not rfc9162.verify_inclusion(5, 13, leaf, path, rfc9162.mth(leaves[:12]))
    assert not rfc9162.verify_inclusion(5, 13, leaf, path[:-1], root)
    flipped = [path[0][:-1] + bytes([path[0][-1] ^ 1]), *path[1:]]
    assert not rfc9162.verify_inclusion(5, 13, leaf, flipped, root)
    proof = consistency(client, 6, 13)
    assert rfc9162.verify_consistency(6, 13, rfc9162.mth(leaves[:6]), root, proof)
    assert not rfc9162.verify_consistency(6, 13, rfc9162.mth(leaves[:7]), root, proof)
    assert not rfc9162.verify_consistency(6, 13, rfc9162.mth(leaves[:6]), rfc9162.mth(leaves[:12]), proof)


def test_proof_requests_outside_the_log_are_refused(client: TestClient, hub: Hub) -> None:
    append_events(hub, 4)
    for params in ({"leaf_index": 4, "tree_size": 4}, {"leaf_index": 0, "tree_size": 5}):
        response = client.get("/v1/audit/proofs/inclusion", params=params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    for params in ({"first": 3, "second": 2}, {"first": 1, "second": 5}, {"first": 0, "second": 2}):
        response = client.get("/v1/audit/proofs/consistency", params=params)
        assert response.status_code == 422, response.text
    assert (
        client.get("/v1/audit/proofs/inclusion", params={"leaf_index": "x", "tree_size": 1}).status_code
        == 422
    )
