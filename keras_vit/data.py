"""Images in: the one definition of image preparation and of an image-folder dataset.

Needs only numpy and Pillow (no Keras, no TensorFlow), so that training
(``keras_vit.training.data``), export and prediction (``keras_vit.tflite.data``) and the
on-device example (``keras_vit.tflite.on_device_example``) share it, and an app can
reproduce it exactly (the documentation's on-device guide, ``docs/guides/on-device.md``).

Image preparation (:func:`prepare_image`): decode, convert to 8-bit RGB (16-bit and float
grayscale are rescaled to 0..255, not clipped), then either resize the whole image to the
model's input (``crop_fraction=1``, what ``keras-vit train`` does with its images) or resize
the shorter side to ``size / crop_fraction`` and cut the central ``size`` x ``size``
(``crop_fraction=0.875``: the ImageNet evaluation crop of the pretrained references). The
model takes the resulting pixels as they are (raw RGB 0..255); it normalizes internally.
"""
import os
import warnings

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

# Pillow refuses images above ~179 megapixels (decompression bombs); we say so in one line.
MAX_PIXELS = 178_956_970


class ImageReadError(ValueError):
    """A file that is not an image we can read (missing, corrupt, too large)."""


def _to_rgb8(image):
    """A Pillow image as 8-bit RGB; high-bit-depth grayscale is rescaled, not saturated."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            top = 65535.0
        elif image.mode == "F":
            top = 1.0 if array.size and array.max() <= 1.0 else 255.0
        else:  # 32-bit integer: Pillow decodes 16-bit PNGs to "I" too
            top = 65535.0 if array.size and array.max() > 255 else 255.0
        array = np.clip(np.round(array * (255.0 / top)), 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels over white, as image viewers show them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def open_image(path):
    """Decode ``path`` to an 8-bit RGB Pillow image; :class:`ImageReadError` names the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.size[0] * image.size[1] > MAX_PIXELS:
                raise ImageReadError(
                    f"{path}: {image.size[0]}x{image.size[1]} pixels is more than this tool "
                    f"decodes ({MAX_PIXELS:,} pixels); resize it first.")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image.load()
            return _to_rgb8(image)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such image file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a folder, not an image file") from None
    except Image.DecompressionBombError:
        raise ImageReadError(f"{path}: too many pixels to decode safely; resize it first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        if isinstance(e, ImageReadError):
            raise
        raise ImageReadError(f"{path}: not an image file Pillow can read ({e})") from None


def prepare_image(image, size, crop_fraction=1.0):
    """The model input for one image: ``(H, W, 3)`` uint8 RGB.

    Args:
        image: a file path or a Pillow image.
        size: ``(H, W)`` (or ``(H, W, C)``) of the model input, or one int for a square.
        crop_fraction: 1.0 resizes the whole image to ``size`` (as ``keras-vit train`` and
            ``keras-vit predict --resize`` do); below 1, the shorter side is resized to
            ``size / crop_fraction`` and the center ``size`` is cut (ImageNet evaluation,
            e.g. 0.875). Resampling is bilinear (antialiased when shrinking).

    Example:
        >>> pixels = prepare_image("cat.jpg", (224, 224), crop_fraction=0.875)
    """
    from PIL import Image

    if not 0.0 < float(crop_fraction) <= 1.0:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction!r}")
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    image = open_image(image) if not isinstance(image, Image.Image) else _to_rgb8(image)
    if crop_fraction < 1.0:
        w, h = image.size
        scale = max(height, width) / crop_fraction / min(w, h)
        new = (max(width, round(w * scale)), max(height, round(h * scale)))
        image = image.resize(new, Image.BILINEAR)
        left, top = (new[0] - width) // 2, (new[1] - height) // 2
        image = image.crop((left, top, left + width, top + height))
    elif image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _check_names(root, names, what):
    """Names that are not UTF-8 (undecodable bytes on disk) fail later in TensorFlow, naming no file."""
    bad = []
    for name in names:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            bad.append(ascii(name))
    if bad:
        raise ValueError(f"Image folder {root!r}: {len(bad)} {what} name(s) are not valid UTF-8: "
                         f"{', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}; rename them.")


def _check_class_links(root, classes):
    """A class folder linked to the root, or holding another class, would label images twice."""
    real_root = os.path.realpath(root)
    reals = {cls: os.path.realpath(os.path.join(root, cls)) for cls in classes}
    for cls, real in reals.items():
        if real_root == real or real_root.startswith(real + os.sep):
            raise ValueError(f"Image folder {root!r}: class folder {cls!r} is (a link to) the dataset folder or "
                             "one above it, a cycle; every image would be read under two labels.")
        for other, other_real in reals.items():
            if other != cls and (other_real == real or other_real.startswith(real + os.sep)):
                raise ValueError(f"Image folder {root!r}: class folder {cls!r} holds class folder {other!r} "
                                 f"(through a link: both lead to {other_real}); each image needs one label.")


def _check_duplicates(root, files, classes, labels):
    seen = {}
    for path, label in zip(files, labels):
        real = os.path.realpath(path)
        if real in seen:
            first, first_label = seen[real]
            raise ValueError(
                f"Image folder {root!r}: {path} and {first} are the same file (a link), under classes "
                f"{classes[label]!r} and {classes[first_label]!r}; each image must appear once.")
        seen[real] = (path, label)


def list_image_folder(root, *, check=True, min_classes=2):
    """The images of a folder with one sub-folder per class.

    Args:
        root: ``root/<class_name>/<image>`` (sub-folders of a class folder are included).
        check: decode every file once; files that do not decode are skipped with one
            warning naming them (a corrupt or non-image file must not stop a long run
            halfway, nor pass unnoticed).
        min_classes: fewer class folders is an error (one class trains nothing useful and
            would report 100% accuracy).

    Returns:
        ``(class_names, files, labels)``: sorted class names, file paths, integer labels.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: fewer than ``min_classes`` classes, or a class without readable images.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Image folder {root!r} does not exist or is not a folder")
    classes = sorted(d for d in os.listdir(root)
                     if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if not classes:
        raise ValueError(f"Image folder {root!r} has no class sub-folders; expected "
                         f"{root}/<class_name>/<image>.jpg")
    if len(classes) < min_classes:
        raise ValueError(
            f"Image folder {root!r} has {len(classes)} class sub-folder(s) "
            f"({', '.join(classes) or 'none'}); a classifier needs at least {min_classes}: "
            f"{root}/<class_name>/<image>.jpg")
    _check_names(root, classes, "class folder")
    _check_class_links(root, classes)
    files, labels, empty, skipped = [], [], [], []
    for label, cls in enumerate(classes):
        found = []
        for dirpath, dirnames, names in os.walk(os.path.join(root, cls)):
            dirnames.sort()
            found += [os.path.join(dirpath, n) for n in sorted(names)
                      if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith(".")]
        _check_names(root, [os.path.relpath(p, root) for p in found], "file")
        if check:
            good = []
            for path in found:
                try:
                    open_image(path)
                    good.append(path)
                except ImageReadError as e:
                    skipped.append(str(e))
            found = good
        if not found:
            empty.append(cls)
        files += found
        labels += [label] * len(found)
    if skipped:
        shown = "\n  ".join(skipped[:10])
        more = f"\n  ... and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        warnings.warn(f"Skipping {len(skipped)} unreadable file(s) in {root!r}:\n  "
                      f"{shown}{more}", stacklevel=2)
    _check_duplicates(root, files, classes, labels)
    if empty:
        raise ValueError(f"Image folder {root!r}: class folder(s) without images "
                         f"(readable {', '.join(IMAGE_EXTENSIONS)}): {', '.join(empty)}")
    return classes, files, np.asarray(labels, dtype=np.int64)
