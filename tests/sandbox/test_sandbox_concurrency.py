"""8 concurrent ingesters with overlapping event_ids, while readers page through, over real HTTP."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from .conftest import LiveSandbox

INGESTERS = 8
BATCHES = 12
BATCH_SIZE = 100
DISTINCT_IDS = 2400  # every ingester draws from the same pool, so batches overlap heavily


def test_concurrent_ingest_stores_each_event_once_and_readers_never_see_half_a_batch(live: LiveSandbox) -> None:
    # Each batch stamps its own tag as the customer_id of its events. An event keeps the tag of the
    # batch that first stored it, so a reader asking for one tag sees either none of that batch's
    # new events (not committed yet) or all of them: never part of a batch.
    done = threading.Event()
    counts: list[int] = []
    stored_by_batch: dict[str, int] = {}
    sightings: list[tuple[str, int]] = []
    lock = threading.Lock()
    tags = [f"w{worker}b{batch}" for worker in range(INGESTERS) for batch in range(BATCHES)]

    def ingester(worker: int) -> None:
        chooser = random.Random(worker)
        with live.client() as client:
            for batch in range(BATCHES):
                tag = f"w{worker}b{batch}"
                ids = chooser.sample(range(DISTINCT_IDS), BATCH_SIZE)
                events = [{"event_id": f"id{i}", "customer_id": tag, "event_name": "load"} for i in ids]
                response = client.post("/events/ingest", json={"events": events})
                assert response.status_code == 200, response.text
                with lock:
                    counts.append(response.json()["ingested_count"])
                    stored_by_batch[tag] = response.json()["ingested_count"]

    def reader(seed: int) -> None:
        chooser = random.Random(seed)
        with live.client() as client:
            while not done.is_set():
                tag = chooser.choice(tags)
                items = client.get("/events", params={"customer_id": tag, "page_size": BATCH_SIZE}).json()["items"]
                assert all(item["customer_id"] == tag for item in items)
                # Paging through everything too: reads interleaved with writes must all succeed.
                page = client.get("/events", params={"page_size": 100, "page_number": chooser.randrange(25)})
                assert page.status_code == 200
                with lock:
                    sightings.append((tag, len(items)))

    readers = [threading.Thread(target=reader, args=(seed,)) for seed in range(3)]
    for thread in readers:
        thread.start()
    with ThreadPoolExecutor(INGESTERS) as pool:
        for future in [pool.submit(ingester, worker) for worker in range(INGESTERS)]:
            future.result()
    done.set()
    for thread in readers:
        thread.join(30)

    all_events = []
    with live.client() as client:
        for number in range(DISTINCT_IDS // 100 + 1):
            all_events += client.get("/events", params={"page_size": 100, "page_number": number}).json()["items"]
    event_ids = [item["event_id"] for item in all_events]

    assert len(counts) == INGESTERS * BATCHES
    assert sum(counts) == live.store.count_events() == len(event_ids) == len(set(event_ids))
    # Every distinct id that was sent is stored, under the tag of a batch whose count included it.
    sent = set()
    for worker in range(INGESTERS):
        chooser = random.Random(worker)
        for _ in range(BATCHES):
            sent |= {f"id{i}" for i in chooser.sample(range(DISTINCT_IDS), BATCH_SIZE)}
    assert set(event_ids) == sent
    per_tag: dict[str, int] = {}
    for item in all_events:
        per_tag[item["customer_id"]] = per_tag.get(item["customer_id"], 0) + 1
    assert per_tag == {tag: count for tag, count in stored_by_batch.items() if count}
    assert len(sightings) >= 10
    half_seen = [(tag, seen, stored_by_batch[tag]) for tag, seen in sightings if seen not in (0, stored_by_batch[tag])]
    assert half_seen == []
