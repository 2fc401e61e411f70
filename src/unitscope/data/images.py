"""A dataset over a folder of images, and one opener for DATA: a Broden directory or a folder.

Items carry `.image` (3xHxW uint8 as decoded: `imageio.to_float` makes [0, 1] floats) and
`.name` (path relative to the dataset root), the same two fields a Broden item has, so
`examples` works on either.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import DataError
from ..imageio import list_images, load_image, read_image, to_float


@dataclass
class ImageItem:
    """One image of a folder dataset."""

    image: torch.Tensor
    name: str


class ImageFolder:
    """Every image under a folder (recursively, sorted), resized to `size` x `size` if given."""

    def __init__(self, path: str | Path, size: int | None = None) -> None:
        self.root = Path(path)
        self.size = size
        self.files = list_images(self.root)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> ImageItem:
        path = self.files[index]
        return ImageItem(read_image(path, self.size), path.relative_to(self.root).as_posix())


def is_broden(path: str | Path) -> bool:
    """A Broden-format directory is recognised by its index.csv."""
    return (Path(path) / "index.csv").is_file()


def open_broden(path: str | Path, size: int | None = None):
    """The Broden dataset at `path`, or a one-line error saying why it is not one."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset '{path}' does not exist")
    if not is_broden(path):
        raise DataError(
            f"'{path}' is not a Broden-format directory (no index.csv); dissect needs pixel labels "
            "(make one with unitscope.data.concepts.generate)"
        )
    from .broden import BrodenDataset

    dataset = BrodenDataset(path, size=size)
    if len(dataset) == 0:
        raise DataError(f"Broden dataset '{path}' lists no images in index.csv")
    _check_images(path, getattr(dataset, "names", []))
    return dataset


def _check_images(root: Path, names: list[str]) -> None:
    """Fail before any work starts if index.csv names an image that is not there."""
    missing = [n for n in names if not (root / "images" / n).is_file()]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise DataError(f"image '{root / 'images' / missing[0]}'{more} listed in index.csv does not exist")


def open_dataset(path: str | Path, size: int | None = None):
    """DATA for `examples`: a Broden directory (its images) or a folder of image files."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"dataset '{path}' does not exist")
    if is_broden(path):
        return open_broden(path, size)
    if not path.is_dir():
        raise DataError(f"dataset '{path}' is not a folder of images or a Broden directory")
    return ImageFolder(path, size)


def image_only(dataset, index: int) -> tuple[torch.Tensor, str]:
    """(image, name) of one item without decoding its label PNGs when the dataset allows it."""
    root, names = getattr(dataset, "root", None), getattr(dataset, "names", None)
    if root is not None and names is not None and is_broden(root):
        name = names[index]
        return load_image(Path(root) / "images" / name, getattr(dataset, "size", None)), name
    item = dataset[index]
    return to_float(item.image), str(item.name)
