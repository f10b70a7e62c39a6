"""The tools layer: what agents read and call. It turns the API layer's facts into words an agent acts on.

    names      the tool names, and which of them to serve (--tools, --read-only)
    models     every tool's argument and result models: the one source of what tools/list publishes
    schemas    a model's JSON schema made portable (every client accepts it) and lean (cheap in context)
    arguments  validating a tool's raw arguments, and naming every problem
    one_pass   an ingest_events call read in one pass, from its bytes to checked records
    messages   the words for each API error: what happened, then what to do
    ingest     ingest_events' batching: API-sized batches, bounded concurrency, one deadline
    summarize  summarize_events: a bounded scan, grouped and aggregated
    explain    explain_meter_match
    call       what a handler sees of a call (ToolCall), gives back (ToolResult), and the seam builds on (ToolDefinition)
    list_text  list_events' text: a page with the fields every item shares stated once
    handlers   the tools, each a thin function over the above
    registry   ToolSpec: each tool's name, models, handler and annotations; the definitions to serve
    prompts    the MCP prompts, step-by-step plans over the tools

Nothing here imports the MCP SDK: dodo_mcp.mcp_sdk, the one seam, turns these definitions into the
SDK's tools. This package's __init__ imports nothing, so `from dodo_mcp.tools.names import ...` is cheap.
"""
