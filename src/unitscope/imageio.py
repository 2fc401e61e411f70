"""Reading and writing images as float CHW tensors in [0, 1], with one-line errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_image(path: str | Path, size: int | None = None) -> torch.Tensor:
    """Load an RGB image as a 3xHxW float tensor in [0, 1], resized to size x size if given."""
    return to_float(read_image(path, size))


def read_image(path: str | Path, size: int | None = None) -> torch.Tensor:
    """An RGB image as its decoded bytes, 3xHxW uint8 (a view of the decoded array, no torch op):
    a quarter of the float image's size to send between processes; `to_float` converts.

    The image is read as a viewer shows it: upright (its EXIF orientation applied) and with 16-bit
    greys scaled to 8 bits (PIL alone clips them at 255). One over PIL's `Image.MAX_IMAGE_PIXELS`
    (89 Mpx) is refused with a `DataError` naming its size, not decoded: shrink it first.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image '{path}' does not exist")
    try:
        with open_image(path) as img:
            img = _rgb(ImageOps.exif_transpose(img))
            if size is not None and img.size != (size, size):
                img = img.resize((size, size), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"cannot read image '{path}': {exc}; is it a valid image file?") from None
    return torch.from_numpy(array).permute(2, 0, 1)


def open_image(path: Path) -> Image.Image:
    """PIL's lazily decoded image, refused above `Image.MAX_IMAGE_PIXELS`: PIL itself would print a
    two-line warning and decode gigabytes, or raise a DecompressionBombError past twice the limit."""
    limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except Image.DecompressionBombError:
            raise DataError(_too_large(path, f"more than {2 * limit / 1e6:.3g} Mpx", limit)) from None
    pixels = img.width * img.height
    if limit is not None and pixels > limit:
        img.close()
        raise DataError(_too_large(path, f"{img.width}x{img.height} px ({pixels / 1e6:.3g} Mpx)", limit))
    return img


def _too_large(path: Path, what: str, limit: int) -> str:
    return (f"image '{path}' is {what}, above PIL's limit of {limit / 1e6:.3g} Mpx "
            "(PIL.Image.MAX_IMAGE_PIXELS); shrink it first, e.g. "
            "`convert IMAGE -resize 4096x4096 SMALL.png` (ImageMagick)")


def _rgb(img: Image.Image) -> Image.Image:
    """`img` as 8-bit RGB. 32-bit integer modes ('I', 'I;16...': 16-bit greyscale PNGs and TIFFs) are
    taken as 16-bit values and scaled by 255/65535; `convert` would clip everything above 255."""
    if img.mode == "I" or img.mode.startswith("I;16"):
        wide = np.asarray(img).astype(np.float64)
        img = Image.fromarray(np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8))
    return img if img.mode == "RGB" else img.convert("RGB")


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (any batch shape) as floats in [0, 1]; float images unchanged. Done once per
    batch, on the device: per image on torch's intra-op threads it cost up to 12 ms on a busy
    machine (measured), against 0.05 ms single-threaded."""
    return images.float().div_(255.0) if images.dtype == torch.uint8 else images


def uint8_tensor(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] values of any shape as uint8 (rounded, clamped), on the CPU, layout kept."""
    return images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """A 3xHxW (or HxW) [0, 1] tensor as an HxWx3 (HxW) uint8 array, rounded."""
    array = uint8_tensor(image)
    if array.dim() == 3:
        array = array.permute(1, 2, 0)
    return array.numpy()


def save_png(image: torch.Tensor | np.ndarray, path: str | Path) -> Path:
    """Save a [0, 1] tensor or a uint8 array as a PNG (deterministic bytes for equal pixels)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = to_uint8(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    Image.fromarray(array).save(path, format="PNG", optimize=False)
    return path


def list_images(folder: str | Path) -> list[Path]:
    """Image files under a folder, sorted, recursing into subfolders."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"'{folder}' is not a folder of images")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found under '{folder}'")
    return files
