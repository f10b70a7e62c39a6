"""Whether an ingest to Dodo's live host may go ahead: the user's confirmation, when the setting and the client allow.

Live events bill real customers and cannot be deleted, so before ingest_events sends any to Dodo's live
host it asks the user (MCP elicitation): how many events, for how many customers, and where. The
setting (config.LiveIngestConfirmation) decides what happens around that: `auto` asks when the client
can and otherwise sends as before; `off` never asks (unattended use); `required` asks, and refuses
when the client cannot. Test mode and the sandbox are never asked about.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ConfigDict, Field

from dodo_mcp.api.fast_events import EventRecord
from dodo_mcp.config import Settings
from dodo_mcp.tools.call import ConfirmForm, ToolCall, ToolResult, failure
from dodo_mcp.tools.messages import (
    live_ingest_declined,
    live_ingest_dismissed,
    live_ingest_question,
    live_ingest_unconfirmable,
)


class LiveIngestForm(ConfirmForm):
    # The form the user answers before a live ingest. No docstring: it would be the form's description.
    model_config = ConfigDict(title="Confirm a live ingest")

    confirm: bool = Field(
        title="Send to live_mode",
        description="Yes sends these events to Dodo Payments live_mode, where they are billed; no sends nothing.",
    )


async def live_ingest_refusal(settings: Settings, call: ToolCall, events: Sequence[EventRecord]) -> ToolResult | None:
    """None when the ingest may go ahead; otherwise the answer saying why nothing was sent."""
    if not settings.sends_to_live or settings.live_ingest_confirmation == "off":
        return None
    if not call.can_elicit:
        if settings.live_ingest_confirmation == "required":
            return failure(live_ingest_unconfirmable(len(events), settings.base_url))
        return None
    customers = len({event["customer_id"] for event in events})
    answer = await call.confirm(live_ingest_question(len(events), customers, settings.base_url), LiveIngestForm)
    if answer is True:
        return None
    if answer is False:
        return failure(live_ingest_declined(len(events), settings.base_url))
    return failure(live_ingest_dismissed(len(events), settings.base_url))
