"""The Dodo Payments API layer: wire models, the client, its errors and retry policy, the meter engine.

It knows nothing of MCP. Nothing here imports the MCP SDK, the tools, the server, the sandbox or a
transport, and no string here names a tool (tests/test_architecture.py checks both). Errors carry
facts (status, Dodo's code and message, whether a write is unconfirmed, when to retry); the tools
layer turns them into the words an agent reads.

Modules, from the leaves up:

    limits        Dodo's documented limits, one constant each
    timestamps    RFC 3339 parsing and the ingest window
    json_bytes    compact JSON bytes of plain data (orjson where it is installed)
    models        the usage-events wire models (Event, EventInput, the ingest request, the list query)
    fast_events   the fast validation path for batches of events
    meters        the meters wire models
    subscriptions the usage-history wire models (billing periods, each meter's usage and price)
    meter_engine  the meter filter language and aggregations
    retry         when to retry, and how long to wait
    errors        the exception family, with structured facts
    client        DodoClient: one httpx2 client, deadline, retries
    paging        explicit, bounded paging over GET /events
"""
