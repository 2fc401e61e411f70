"""The concept world: procedurally drawn images with pixel-level concept labels (Broden format).

Six categories named like Broden's: 11 colours, 11 textures, 4 materials, 16 objects (12
classes the toy model learns plus sky/ground/wall/floor), 16 parts of 6 composite objects,
7 scenes decided by content. `generate.generate(out_dir)` writes a dataset `BrodenDataset` reads;
`render_sample(seed, index)` draws one image with its label maps in memory.
"""

from .generate import ConceptsResult, ConceptsSettings
from .materials import MATERIAL_NAMES
from .objects import BACKGROUND_OBJECTS, COMPOSITES, OBJECT_CLASSES, OBJECT_NAMES, PART_NAMES
from .palette import COLOR_NAMES, COLOR_RGB
from .scenes import SCENE_NAMES, scene_for
from .textures import TEXTURE_NAMES
from .world import CATEGORIES, PIXEL_CATEGORIES, Sample, render_sample
from .writer import BrodenWriter, broden_name, label_numbers

__all__ = [
    "BACKGROUND_OBJECTS",
    "BrodenWriter",
    "ConceptsResult",
    "ConceptsSettings",
    "CATEGORIES",
    "COLOR_NAMES",
    "COLOR_RGB",
    "COMPOSITES",
    "MATERIAL_NAMES",
    "OBJECT_CLASSES",
    "OBJECT_NAMES",
    "PART_NAMES",
    "PIXEL_CATEGORIES",
    "SCENE_NAMES",
    "Sample",
    "TEXTURE_NAMES",
    "broden_name",
    "label_numbers",
    "render_sample",
    "scene_for",
]
