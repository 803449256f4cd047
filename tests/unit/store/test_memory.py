"""MemoryTokenStore beyond the store contract: one process-wide instance, secrets kept out of its repr."""

from __future__ import annotations

import threading

from airflow_oauth_connector.store import MemoryTokenStore
from tests.support.builders import ACCESS, REFRESH, make_token


def test_shared_is_one_instance_per_process_even_when_threads_race_for_it() -> None:
    start = threading.Barrier(8, timeout=30)
    seen: list[MemoryTokenStore] = []

    def get() -> None:
        start.wait()
        seen.append(MemoryTokenStore.shared())

    threads = [threading.Thread(target=get) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) == 8
    assert all(s is seen[0] for s in seen)
    assert MemoryTokenStore() is not seen[0]  # an explicit instance is private


def test_repr_counts_keys_and_never_shows_a_token() -> None:
    store = MemoryTokenStore()
    store.save("my_api:1", make_token())
    assert repr(store) == "MemoryTokenStore(keys=1)"
    assert ACCESS not in repr(store)
    assert REFRESH not in repr(store)
