"""Feature-composition trees: which units of the layer below built a unit's response on an image.

`compose_tree` draws one image's tree; `graph.run` averages the same contribution
scores over a dataset.
"""

from .pipeline import compose_tree

__all__ = ["compose_tree"]
