"""Explanation reports (`sluice explain`): what a kept answer attended to, as a self-contained HTML page."""

from __future__ import annotations

from agents.tools.explain.build import default_report_path, explain_context_html, explain_report_html
from agents.tools.explain.context import (
    ContextNotKeptError,
    ContextUnreadableError,
    latest_context,
    read_request_context,
)
from agents.tools.explain.report import render_report

__all__ = [
    "ContextNotKeptError",
    "ContextUnreadableError",
    "default_report_path",
    "explain_context_html",
    "explain_report_html",
    "latest_context",
    "read_request_context",
    "render_report",
]
