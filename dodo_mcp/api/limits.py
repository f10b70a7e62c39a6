"""Dodo's documented limits, and the few bounds of our own that sit beside them. Change them here only.

The wire models, the tools' validation and the sandbox all read these, so a limit is enforced the
same way everywhere.
"""

from __future__ import annotations

from datetime import timedelta

# POST /events/ingest
MAX_EVENTS_PER_REQUEST = 1000
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 100
MAX_METADATA_STRING_LENGTH = 500
MAX_TIMESTAMP_AGE = timedelta(hours=1)
MAX_TIMESTAMP_LEAD = timedelta(minutes=5)

# GET /events and GET /meters
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
MAX_METERS_PAGE_SIZE = 100
# The spec types page_number as int32; a larger number is an agent's mistake.
MAX_PAGE_NUMBER = 2**31 - 1

# GET /subscriptions/{subscription_id}/usage-history (and GET /subscriptions)
MAX_USAGE_HISTORY_PAGE_SIZE = 100

# Meter filters. Nested filters below the top-level one: the spec names them Level 1, 2 and 3.
MAX_FILTER_NESTING = 3
MIN_FILTER_CLAUSES = 1
MAX_FILTER_CLAUSES = 10
MAX_FILTER_KEY_LENGTH = MAX_METADATA_KEY_LENGTH

# Rate limits, per API key.
REQUESTS_PER_MINUTE = 100
BURST_PER_SECOND = 10

# Not a documented Dodo limit but ours: an id must fit in a URL (percent-encoded, up to 12 bytes a
# character) to be retrievable, and no sensible deterministic id comes near it.
MAX_ID_LENGTH = 512

# Ids that can't stand as one URL path segment of /events/{id} or /meters/{id}: URL normalisation
# resolves "." and ".." away, so an event stored under one could never be retrieved by its id.
UNREADABLE_IDS = frozenset({"", ".", ".."})

# Bounds of our own on one tool call (in api, not tools, so the handshake's instructions can state them
# without importing the tools' models).
# What one ingest_events call accepts; it is sent to Dodo in API-sized batches.
MAX_EVENTS_PER_CALL = 10_000
# summarize_events' scan: how many events by default, and at most.
DEFAULT_SCAN_EVENTS = 2_000
MAX_SCAN_EVENTS = 5_000
