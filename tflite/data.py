"""Images in, for export calibration, verification, prediction and benchmarks.

Everything here returns raw RGB pixels as float32 ``(N, H, W, 3)`` in [0, 255], because
the exported models normalize internally.
"""
import os

import numpy as np

from keras_vit.data import (IMAGE_EXTENSIONS, MAX_PIXELS, ImageReadError, list_image_folder,
                            open_image, prepare_image)

__all__ = ["load_image", "load_images", "load_dataset", "calibration_and_eval", "check_images",
           "prepare_image"]


def check_images(images, image_size, what="images"):
    """Validate a batch of raw pixels against the model input ``(H, W, 3)``.

    Returns the batch as float32 ``(N, H, W, 3)``; raises ``ValueError`` naming the problem
    (channel count, spatial size, value range) otherwise.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"{what}: expected (N, H, W, 3) pixels, got shape {images.shape}.")
    h, w, c = image_size
    if images.shape[-1] != c:
        raise ValueError(
            f"{what}: expected {c} channels (RGB, channels last), got {images.shape[-1]} "
            f"in shape {images.shape}."
        )
    if tuple(images.shape[1:3]) != (h, w):
        raise ValueError(
            f"{what}: expected {h}x{w} images, got {images.shape[1]}x{images.shape[2]}."
        )
    images = images.astype(np.float32)
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(
            f"{what}: pixel values must be raw RGB in [0, 255] (the model normalizes them), "
            f"got range [{images.min():.3g}, {images.max():.3g}]."
        )
    if images.size and images.max() <= 1.0:
        # Already-normalized data would calibrate int8 ranges on the wrong scale.
        raise ValueError(f"{what}: values are all in [0, 1]; pass raw pixels in [0, 255].")
    return images


def load_image(path, image_size=None, resize=False):
    """Read one image file as float32 ``(H, W, 3)`` RGB pixels.

    Args:
        path: image file (anything Pillow reads).
        image_size: expected ``(H, W)`` or ``(H, W, 3)``; ``None`` accepts any size.
        resize: prepare the image for the model with :func:`keras_vit.data.prepare_image`
            (8-bit RGB, 16-bit rescaled, resized to ``image_size``) instead of rejecting a
            mismatched size or channel count.
    """
    from PIL import Image

    if resize and image_size is not None:
        try:
            return prepare_image(path, image_size[:2]).astype(np.float32)
        except ImageReadError as e:
            raise ValueError(str(e)) from None
    if resize:  # no size to resize to: just convert to 8-bit RGB
        try:
            return np.asarray(open_image(path), dtype=np.float32)
        except ImageReadError as e:
            raise ValueError(str(e)) from None
    try:
        with Image.open(path) as img:
            if img.size[0] * img.size[1] > MAX_PIXELS:
                raise ValueError(f"{path}: {img.size[0]}x{img.size[1]} pixels is more than "
                                 f"this tool decodes ({MAX_PIXELS:,}); resize it first.")
            if img.mode not in ("RGB", "RGBA", "P", "L", "LA", "1", "CMYK", "YCbCr"):
                # 16-bit or float pixels: only --resize converts them (rescaled to 0..255).
                raise ValueError(f"{path}: {img.mode} pixels (not 8-bit RGB). "
                                 "Use --resize to convert.")
            img.load()
            array = np.asarray(img)
    except ValueError:
        raise
    except FileNotFoundError:
        raise FileNotFoundError(f"No such image file: {path}") from None
    except Image.DecompressionBombError:
        raise ValueError(f"{path}: too many pixels to decode safely; resize it first.") from None
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{path} is not an image file Pillow can read ({e}).") from None
    if array.ndim == 2:
        raise ValueError(f"{path}: grayscale image (1 channel); the model needs RGB. Use --resize to convert.")
    if array.shape[-1] != 3:
        raise ValueError(
            f"{path}: image has {array.shape[-1]} channels; the model needs 3 (RGB). "
            "Use --resize to convert."
        )
    if image_size is not None and tuple(array.shape[:2]) != tuple(image_size[:2]):
        raise ValueError(
            f"{path}: image is {array.shape[0]}x{array.shape[1]}, the model takes "
            f"{image_size[0]}x{image_size[1]}. Use --resize to resize."
        )
    return array.astype(np.float32)


def load_images(paths, image_size=None, resize=False):
    """Read image files into one float32 ``(N, H, W, 3)`` batch (see :func:`load_image`)."""
    return np.stack([load_image(p, image_size, resize) for p in paths])


def _load_folder(folder, image_size, limit):
    """Folder of images; class sub-folders (sorted) become labels (see keras_vit.data)."""
    has_classes = any(os.path.isdir(os.path.join(folder, d)) and not d.startswith(".")
                      for d in os.listdir(folder))
    if has_classes:
        _, files, labels = list_image_folder(folder, check=False, min_classes=1)
        labels = list(labels)
    else:
        files = [os.path.join(folder, n) for n in sorted(os.listdir(folder))
                 if n.lower().endswith(IMAGE_EXTENSIONS)]
        labels = []
    if not files:
        raise ValueError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in {folder}.")
    if limit:
        # Spread the subset over classes instead of taking the first class only.
        step = max(1, len(files) // limit)
        files, labels = files[::step][:limit], labels[::step][:limit] if labels else []
    images = load_images(files, image_size, resize=image_size is not None)
    return images, (np.asarray(labels) if labels else None)


#: Source images may be larger than the model input (they are resized): up to 4x its side.
MAX_SOURCE_PIXELS_PER_MODEL_PIXEL = 16


def _read_rows(f, where, limit, image_size):
    """The first ``limit`` rows of the ``.npy`` stream ``f``, reading no more than those.

    A small compressed file can declare gigabytes; only what was asked for (``limit`` images of
    about the model's input size) is ever inflated, and a row larger than any image the model
    can take is refused before reading it.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{where} is not a valid .npy array: {e}") from None
    if dtype.hasobject:
        raise ValueError(f"{where} holds Python objects; only numeric arrays are read.")
    if not shape:
        raise ValueError(f"{where} is a scalar, not an array of images.")
    rows = shape[0] if limit is None else min(int(limit), shape[0])
    per_row = int(np.prod(shape[1:], dtype=np.int64))
    if image_size is not None and len(shape) > 1:
        most = int(np.prod(tuple(image_size)[:2])) * 3 * MAX_SOURCE_PIXELS_PER_MODEL_PIXEL
        if per_row > most:
            raise ValueError(f"{where}: each image has shape {shape[1:]}, far larger than the model input "
                             f"{tuple(image_size)[:2]} (at most {most:,} values per image are read).")
    if fortran and rows < shape[0]:  # column-major rows are not contiguous: read it whole
        rows = shape[0]
    nbytes = rows * per_row * dtype.itemsize
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise ValueError(f"{where} is truncated: {len(data):,} of {nbytes:,} bytes.")
    order = "F" if fortran else "C"
    array = np.frombuffer(data, dtype).reshape((rows,) + tuple(shape[1:]), order=order)
    return array[:limit] if limit is not None else array


def _load_array_file(path, limit=None, image_size=None):
    """Images (and labels) from ``.npy``/``.npz``, reading only the first ``limit`` of each."""
    import zipfile

    if path.endswith(".npy"):
        with open(path, "rb") as f:
            return _read_rows(f, path, limit, image_size), None
    try:
        with zipfile.ZipFile(path) as zf:
            keys = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
            img_key = next((k for k in ("images", "x", "x_test", "x_train") if k in keys), None)
            if img_key is None:
                raise ValueError(f"{path}: no 'images' or 'x' array (found {keys}).")
            lbl_key = next((k for k in ("labels", "y", "y_test", "y_train") if k in keys), None)
            with zf.open(img_key + ".npy") as f:
                images = _read_rows(f, f"{path}[{img_key}]", limit, image_size)
            labels = None
            if lbl_key:
                with zf.open(lbl_key + ".npy") as f:
                    labels = _read_rows(f, f"{path}[{lbl_key}]", limit, None)
            return images, labels
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{path} is not a valid .npz archive: {e}") from None


def _resize_batch(images, image_size):
    if tuple(images.shape[1:3]) == tuple(image_size[:2]):
        return images
    import tensorflow as tf

    return tf.image.resize(images, image_size[:2]).numpy()


def load_dataset(spec, image_size=None, limit=None, split="test"):
    """Load raw-pixel images (and labels when known) for calibration or evaluation.

    Args:
        spec: an ``.npy`` file of images, an ``.npz`` with ``images``/``x`` (and
            ``labels``/``y``), a folder of images (class sub-folders give labels), or any
            dataset name that :func:`keras_vit.datasets.load_dataset` knows (``digits``, ``tfds:NAME``).
        image_size: ``(H, W)`` or ``(H, W, 3)`` to resize to; ``None`` keeps the size.
        limit: keep at most this many samples.
        split: the split of that dataset.

    Returns:
        ``(images, labels)``; ``labels`` is ``None`` when the source has none.
    """
    if os.path.isdir(spec):
        return _load_folder(spec, image_size, limit)
    if os.path.isfile(spec):
        if not spec.endswith((".npy", ".npz")):
            raise ValueError(f"{spec}: expected an .npy/.npz array file or a folder of images.")
        images, labels = _load_array_file(spec, limit or None, image_size)
    else:
        images, labels = _load_named(spec, image_size, limit, split)
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 4 and images.shape[-1] != 3:
        # Never broadcast one channel to three silently: the model was trained on RGB.
        raise ValueError(
            f"{spec}: images have {images.shape[-1]} channel(s) (shape {images.shape}); the "
            "model takes RGB. Convert first, e.g. np.repeat(images, 3, axis=-1) for grayscale.")
    if images.ndim != 4:
        raise ValueError(f"{spec}: expected images of shape (N, H, W, 3), got {images.shape}.")
    if limit:
        images = images[:limit]
        labels = labels[:limit] if labels is not None else None
    if image_size is not None:
        images = _resize_batch(images, image_size)
    return images, (np.asarray(labels).reshape(-1).astype(np.int64) if labels is not None else None)


def _load_named(spec, image_size, limit, split):
    """A named dataset (``digits``, ``tfds:NAME``, a class folder) from :mod:`keras_vit.datasets`."""
    from keras_vit import datasets
    if image_size is None:
        raise ValueError(f"Dataset {spec!r} needs the model's image size.")
    try:
        splits = datasets.load_dataset(spec, int(image_size[0]))
    except (KeyError, ValueError) as e:
        raise ValueError(f"Could not load dataset {spec!r}: {e}") from None
    attr = {"train": "train", "validation": "val", "val": "val", "test": "test"}[split]
    ds = getattr(splits, attr)
    if limit:
        ds = ds.take(limit)
    images, labels = [], []
    for image, label in ds.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    if not images:
        raise ValueError(f"Dataset {spec!r} has no {split} images.")
    return np.stack(images), np.asarray(labels)


def calibration_and_eval(spec, image_shape, num_calibration, num_eval):
    """Calibration images and held-out labelled evaluation images from one source.

    Named training datasets give their train split for calibration and their test split for
    evaluation; files and folders are split by position (the first ``num_calibration``
    images calibrate). Returns ``(calibration, eval_images, eval_labels_or_None)``.
    """
    if os.path.exists(spec):
        images, labels = load_dataset(spec, image_size=image_shape, limit=num_calibration + num_eval)
        if len(images) <= num_calibration:  # too few to hold any out: evaluate on the same images
            return images, images, labels
        return images[:num_calibration], images[num_calibration:], (
            labels[num_calibration:] if labels is not None else None)
    cal, _ = load_dataset(spec, image_size=image_shape, limit=num_calibration, split="train")
    ev, labels = load_dataset(spec, image_size=image_shape, limit=num_eval, split="test")
    return cal, ev, labels
