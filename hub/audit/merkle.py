"""Merkle tree hashing, proofs and their verification as RFC 9162 §2.1 defines them. Pure functions.

Nodes are named by ``(level, position)``: the node at level ``k`` and position ``p`` is the root of the
complete subtree over leaves ``[p·2^k, (p+1)·2^k)``. The log stores exactly these nodes (every complete
subtree, written when its last leaf is appended), so the hash of any range the RFC's recursion visits is
a fold of at most log2(n) stored nodes, and a proof never rebuilds the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256() (§2.1.1)

NodeKey = tuple[int, int]  # (level, position)
Range = tuple[int, int]  # leaves [start, end)


def leaf_hash(data: bytes) -> bytes:
    """MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1): where §2.1.1 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[NodeKey]:
    """The stored complete subtrees whose fold is MTH(D[start:end]), largest first.

    Valid for every range the RFC's recursion visits: ``start`` is then a multiple of a power of two at
    least as large as ``end - start``, so the binary digits of the size give aligned subtrees."""
    if end <= start:
        raise ValueError(f"empty range [{start}, {end})")
    keys: list[NodeKey] = []
    position = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            if position % (1 << level):
                raise ValueError(f"range [{start}, {end}) is not aligned as the RFC recursion makes it")
            keys.append((level, position >> level))
            position += 1 << level
    return keys


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its complete subtrees, largest first (§2.1.1 splits off the largest)."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes form PATH(index, D[size]) (§2.1.3.1), leaf level first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append((start + k, end))
            end = start + k
        else:
            path.append((start, start + k))
            start += k
    return path[::-1]


def consistency_ranges(first: int, second: int) -> list[Range]:
    """The ranges whose hashes form PROOF(first, D[second]) = SUBPROOF(first, D[second], true)
    (§2.1.4.1), in the RFC's order."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from {first} to {second}")
    proof: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:
        k = split_point(end - start)
        if m <= k:
            proof.append((start + k, end))
            end = start + k
        else:
            proof.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        proof.append((start, end))
    return proof[::-1]


def nodes_for(ranges: Iterable[Range]) -> set[NodeKey]:
    keys: set[NodeKey] = set()
    for start, end in ranges:
        keys.update(range_nodes(start, end))
    return keys


def range_hash(start: int, end: int, nodes: Mapping[NodeKey, bytes]) -> bytes:
    return fold([nodes[key] for key in range_nodes(start, end)])


def parents_completed_by(index: int) -> list[NodeKey]:
    """The nodes that appending leaf ``index`` completes, lowest first (level 0 is the leaf itself)."""
    size = index + 1
    keys = [(0, index)]
    level = 1
    while size % (1 << level) == 0:
        keys.append((level, (size >> level) - 1))
        level += 1
    return keys


def left_siblings_for(index: int) -> list[NodeKey]:
    """The stored nodes needed to compute the parents that appending leaf ``index`` completes."""
    return [(level - 1, position * 2) for level, position in parents_completed_by(index)[1:]]


def parents(index: int, leaf: bytes, siblings: Mapping[NodeKey, bytes]) -> list[tuple[NodeKey, bytes]]:
    """The leaf and every node it completes, with their hashes."""
    created = [((0, index), leaf)]
    current = leaf
    for level, position in parents_completed_by(index)[1:]:
        current = node_hash(siblings[(level - 1, position * 2)], current)
        created.append(((level, position), current))
    return created


class StreamingTree:
    """A tree built leaf by leaf keeping only the right edge (O(log n) memory), for recomputing the
    log from storage."""

    def __init__(self) -> None:
        self.size = 0
        self._edge: list[tuple[int, bytes]] = []  # (level, hash) of complete subtrees, largest first

    def push(self, leaf: bytes) -> None:
        level, current = 0, leaf
        while self._edge and self._edge[-1][0] == level:
            _, left = self._edge.pop()
            current = node_hash(left, current)
            level += 1
        self._edge.append((level, current))
        self.size += 1

    def root(self) -> bytes:
        return fold([h for _, h in self._edge]) if self._edge else EMPTY_ROOT


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """§2.1.3.2: whether ``path`` proves leaf hash ``leaf`` at ``index`` in the tree of ``root``."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """§2.1.4.2: whether ``proof`` shows the tree of ``second_root`` extends the one of ``first_root``."""
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is the proof's implicit first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


def hashes_of(ranges: Sequence[Range], nodes: Mapping[NodeKey, bytes]) -> list[bytes]:
    return [range_hash(start, end, nodes) for start, end in ranges]


NodeFetcher = Callable[[set[NodeKey]], Mapping[NodeKey, bytes]]
