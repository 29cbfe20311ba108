"""The report's one jinja2 environment: templates/ beside this module (package data),
autoescaped, because prompts and answers are untrusted text."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, Template, select_autoescape
from markupsafe import Markup


@functools.cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                      autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True)
    env.filters["inline"] = inline
    return env


def template(name: str) -> Template:
    return environment().get_template(name)


def inline(text: str) -> Markup:
    """Markdown's **bold** as HTML, everything else escaped."""
    import html
    import re

    return Markup(re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(text)))
