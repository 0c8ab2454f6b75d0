"""The fast ObjectId stream that numbers predicted boxes: valid, fresh, never repeated."""

from __future__ import annotations

import itertools
import threading
import time

from bson import ObjectId

from alflow.data import detections


def test_the_ids_are_valid_object_ids_of_the_current_time():
    before = int(time.time())
    ids = list(itertools.islice(detections.object_ids(), 100))
    after = int(time.time())
    assert all(type(i) is ObjectId for i in ids)
    assert all(before <= i.generation_time.timestamp() <= after for i in ids)
    assert all(ObjectId.is_valid(str(i)) for i in ids)


def test_no_id_repeats_across_blocks_or_bsons_own_ids():
    ours = list(itertools.islice(detections.object_ids(block=8), 50))  # 7 blocks: new heads
    theirs = [ObjectId() for _ in range(50)]
    assert len(set(ours) | set(theirs)) == 100
    heads = {i.binary[4:9] for i in ours}
    assert len(heads) == 7, "each block draws its own five random bytes"
    assert not heads & {i.binary[4:9] for i in theirs}


def test_the_shared_stream_hands_each_id_to_one_thread_only():
    taken: list[list[ObjectId]] = [[] for _ in range(4)]

    def take(into):
        into.extend(next(detections._BOX_IDS) for _ in range(5_000))

    threads = [threading.Thread(target=take, args=(into,)) for into in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(itertools.chain(*taken))) == 20_000
