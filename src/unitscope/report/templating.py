"""One Jinja2 environment for every page: templates from the package, autoescape always on."""

from __future__ import annotations

import functools

import jinja2


@functools.cache
def environment() -> jinja2.Environment:
    """The shared environment; everything from data is escaped because autoescape is forced on."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("unitscope", "report/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context) -> str:
    """Render a template from report/templates with `context`."""
    return environment().get_template(template).render(**context)
