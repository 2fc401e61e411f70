"""HTML output: Jinja2 templates (autoescaped), static assets, plots."""
