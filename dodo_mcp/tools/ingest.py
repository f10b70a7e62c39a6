"""ingest_events' batching: up to MAX_EVENTS_PER_CALL events sent as API-sized batches, with one deadline.

The call's events are cut into batches of the configured size (at most Dodo's 1,000), sent with
bounded concurrency, and every batch, retry and wait fits inside the one per-call deadline. Each
batch is reported on its own: confirmed (with Dodo's count of new events) or unconfirmed (with why),
so an agent re-sends exactly the unconfirmed events, which is safe because ingest is idempotent by
event_id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio
from pydantic import SecretStr

from dodo_mcp.api.client import DodoClient, IngestOutcome
from dodo_mcp.api.errors import DodoError
from dodo_mcp.api.fast_events import EventRecord
from dodo_mcp.tools.call import ToolResult, failure, success
from dodo_mcp.tools.messages import IDEMPOTENT, error_text, unconfirmed_batch_notice
from dodo_mcp.tools.models import IngestBatch, IngestResult

Progress = Callable[[int, int], Awaitable[None]]


async def ingest(
    client: DodoClient,
    events: Sequence[EventRecord],
    *,
    api_key: SecretStr | None = None,
    progress: Progress | None = None,
) -> tuple[IngestResult, dict[int, DodoError]]:
    """Send `events` in batches; the report, and each failed batch's error by its first index."""
    key = client.check_api_key(api_key)
    size = client.settings.ingest_batch_size
    starts = range(0, len(events), size)
    deadline_at = client.deadline_from_now()
    limiter = anyio.CapacityLimiter(client.settings.ingest_concurrency)
    batches: dict[int, IngestBatch] = {}
    failures: dict[int, DodoError] = {}

    async def send(start: int) -> None:
        chunk = events[start : start + size]
        async with limiter:
            try:
                outcome = await client.ingest_events(chunk, deadline_at=deadline_at, api_key=key)
            except DodoError as exc:
                failures[start] = exc
                batches[start] = _unconfirmed(start, len(chunk), exc)
            else:
                batches[start] = _confirmed(start, len(chunk), outcome)
        if progress is not None:
            await progress(sum(batch.event_count for batch in batches.values()), len(events))

    async with anyio.create_task_group() as group:
        for start in starts:
            group.start_soon(send, start)
    return _report(events, [batches[start] for start in starts]), failures


def ingest_answer(result: IngestResult, failures: dict[int, DodoError]) -> ToolResult:
    """The tool's answer: the report; with failures, first a summary of what to re-send."""
    if not failures:
        return success(result)
    if len(result.batches) == 1:
        return failure(error_text(failures[0]), result)
    first = failures[min(failures)]
    confirmed = result.submitted_count - result.unconfirmed_count
    earlier = result.possibly_stored_by_earlier_attempt
    either = f", {earlier} stored by this call or before it" if earlier else ""
    summary = (
        f"{result.unconfirmed_count} of {result.submitted_count} events are unconfirmed: {len(failures)} of "
        f"{len(result.batches)} batches failed; the other {confirmed} were confirmed ({result.ingested_count} new, "
        f"{result.ignored_count} already ingested{either}). Re-send exactly the events whose ids are in "
        f"unconfirmed_event_ids with ingest_events; that is safe, {IDEMPOTENT}. First failure: {first.message}"
    )
    return failure(summary, result)


def unconfirmed_batch_notices(result: IngestResult, failures: dict[int, DodoError]) -> list[str]:
    """A line for the client's log per batch Dodo never confirmed, in the events' order."""
    count = len(result.batches)
    return [
        unconfirmed_batch_notice(number, count, batch.first_index, batch.event_count, failures[batch.first_index])
        for number, batch in enumerate(result.batches, start=1)
        if not batch.confirmed
    ]


def _confirmed(start: int, count: int, outcome: IngestOutcome) -> IngestBatch:
    ingested = min(outcome.ingested_count, count)
    # Dodo counts as "already ingested" what a lost earlier attempt of this very batch stored: then
    # the rest are stored, but whether this call or an earlier one stored them is unknown.
    possibly_earlier = count - ingested if outcome.earlier_attempt_unconfirmed else 0
    return IngestBatch(
        first_index=start,
        event_count=count,
        confirmed=True,
        ingested_count=ingested,
        ignored_count=None if outcome.earlier_attempt_unconfirmed else count - ingested,
        possibly_stored_by_earlier_attempt=possibly_earlier,
        attempts=outcome.attempts,
    )


def _unconfirmed(start: int, count: int, error: DodoError) -> IngestBatch:
    return IngestBatch(
        first_index=start,
        event_count=count,
        confirmed=False,
        ingested_count=None,
        ignored_count=None,
        attempts=error.attempts,
        error=error_text(error),
    )


def _report(events: Sequence[EventRecord], batches: list[IngestBatch]) -> IngestResult:
    unconfirmed = [
        event["event_id"]
        for batch in batches
        if not batch.confirmed
        for event in events[batch.first_index : batch.first_index + batch.event_count]
    ]
    return IngestResult(
        submitted_count=len(events),
        ingested_count=sum(batch.ingested_count or 0 for batch in batches),
        ignored_count=sum(batch.ignored_count or 0 for batch in batches),
        possibly_stored_by_earlier_attempt=sum(batch.possibly_stored_by_earlier_attempt for batch in batches),
        unconfirmed_count=len(unconfirmed),
        unconfirmed_event_ids=unconfirmed,
        batches=batches,
    )
