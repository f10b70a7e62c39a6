"""dodo-mcp: an MCP server for Dodo Payments usage events.

The public surface is small on purpose: the version, the API client and its
exception family, and the models of the API's shapes.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
