"""Named datasets: the embedded ``digits``, any TFDS dataset, or a folder of images.

Every source is turned into three unbatched ``tf.data`` splits of ``(uint8 image HxWx3, int
label)`` resized to the model's input, with its class names. Training
(:func:`keras_vit.training.data.make_pipeline`) and export calibration and verification
(:mod:`keras_vit.tflite.data`) both read datasets through :func:`load_dataset`.

Folders and TFDS datasets also keep their training split undecoded
(:attr:`DataSplits.train_encoded`): a random crop (``RandomResizedCrop``) must see the whole
image, and shuffling file names or encoded bytes costs far less memory than shuffling
decoded images.
"""
import dataclasses
import os
from typing import List, Optional

import numpy as np
import tensorflow as tf



@dataclasses.dataclass
class EncodedImages:
    """An unbatched split kept undecoded: ``(data, int label)`` records.

    ``data`` is a file path (``is_path``) or the encoded bytes of one image (JPEG, PNG...).
    :class:`keras_vit.training.data.RandomResizedCrop` decodes them (only the cropped window of
    a JPEG).
    """

    records: tf.data.Dataset
    is_path: bool


@dataclasses.dataclass
class DataSplits:
    """Train/validation/test splits of one dataset, unbatched, with their class names.

    ``train_encoded`` is the training split undecoded (:class:`EncodedImages`, same images and
    order as ``train``) for sources that have one (folders and TFDS; ``None`` for ``digits``).
    """

    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    class_names: List[str]
    num_train: int
    num_val: int
    num_test: int
    train_encoded: Optional[EncodedImages] = None

    @property
    def num_classes(self):
        return len(self.class_names)


def load_dataset(
    name,
    image_size,
    *,
    data_dir=None,
    download=True,
    val_fraction=0.1,
    test_fraction=0.2,
    seed=0,
):
    """Load a dataset by name into train/validation/test splits resized to ``image_size``.

    Args:
        name: ``"digits"`` (scikit-learn's 8x8 handwritten digits, installed with the
            ``train`` extra, needs no internet), ``"tfds:<name>"`` (any TensorFlow Datasets
            name, e.g. ``"tfds:cifar10"``), or a path to a folder that holds one sub-folder
            of images per class (``folder:<path>`` is accepted too). A folder that holds
            ``train/`` and ``test/`` (and optionally ``val/``) uses those splits.
        image_size: side of the square images the model takes.
        data_dir: TFDS data directory.
        download: let TFDS download and prepare a missing dataset.
        val_fraction, test_fraction: fractions carved from the training data when the source
            has no validation/test split (stratified by class, seeded). ``val_fraction=0``
            carves no validation split: ``val`` is then empty (``num_val == 0``) unless the
            source has its own.
        seed: seed of the split.

    Returns:
        :class:`DataSplits`.

    Raises:
        ValueError: unknown dataset name, or a malformed dataset (empty class folders...).
        FileNotFoundError: a folder that does not exist.

    Example:
        >>> splits = load_dataset("digits", 32)
        >>> splits.num_classes
        10
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"Dataset name must be a non-empty string, got {name!r}")
    if name == "digits":
        return _load_digits(image_size, val_fraction, test_fraction, seed)
    if name.startswith("tfds:"):
        return _load_tfds(name[len("tfds:"):], image_size, data_dir, download,
                          val_fraction, test_fraction, seed)
    path = name[len("folder:"):] if name.startswith("folder:") else name
    if name.startswith("folder:") or os.sep in name or os.path.exists(name):
        return _load_folder(path, image_size, val_fraction, test_fraction, seed)
    raise ValueError(
        f"Unknown dataset {name!r}. Use 'digits', 'tfds:<name>' (e.g. 'tfds:cifar10') or the "
        "path of a folder with one sub-folder of images per class."
    )


def _stratified_split(labels, val_fraction, test_fraction, seed):
    """Indices (train, val, test), stratified by label, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    parts = ([], [], [])
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        n_test = int(round(len(idx) * test_fraction))
        n_val = int(round(len(idx) * val_fraction))
        parts[2].extend(idx[:n_test])
        parts[1].extend(idx[n_test:n_test + n_val])
        parts[0].extend(idx[n_test + n_val:])
    return tuple(np.sort(np.asarray(p, dtype=np.int64)) for p in parts)


def _resize_uint8(image, image_size):
    image = tf.image.resize(image, (image_size, image_size), method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)


def _to_rgb(image):
    # Grayscale sources (digits, MNIST) are repeated to 3 channels: the models take RGB.
    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    if channels == 4:
        return image[..., :3]
    return image


def _digits_arrays():
    """scikit-learn's digits as float32 ``(N, 8, 8, 1)`` images in 0..255 and int64 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "The 'digits' dataset ships with scikit-learn: pip install 'keras-vit[train]'"
        ) from None
    digits = load_digits()
    # Pixel values are 0..16; scale to the 0..255 range every model input expects.
    images = (digits.images * (255.0 / 16.0)).astype(np.float32)[..., None]
    return images, digits.target.astype(np.int64)


def _digits_splits(images, labels, parts, image_size):
    """:class:`DataSplits` of the digits at ``parts`` = (train, val, test) indices."""

    def make(idx):
        ds = tf.data.Dataset.from_tensor_slices((images[idx], labels[idx]))
        return ds.map(lambda x, y: (_resize_uint8(_to_rgb(x), image_size), y),
                      num_parallel_calls=tf.data.AUTOTUNE)

    return DataSplits(*(make(idx) for idx in parts), [str(i) for i in range(10)],
                      *(len(idx) for idx in parts))


def _load_digits(image_size, val_fraction, test_fraction, seed):
    images, labels = _digits_arrays()
    parts = _stratified_split(labels, val_fraction, test_fraction, seed)
    return _digits_splits(images, labels, parts, image_size)


def _missing_package(name, error):
    missing = getattr(error, "name", None) or str(error)
    return (f"tfds dataset {name!r} needs the Python package {missing!r}, which is not "
            f"installed (not a network problem): pip install {missing} "
            "(or pip install 'keras-vit[train]')")


_PROBE_HOST = "storage.googleapis.com"  # where tfds downloads most datasets from


def _online(timeout=3.0):
    """Whether a connection to the tfds download host opens within ``timeout`` seconds.

    Behind a proxy (``https_proxy`` set) direct connections may fail while downloads work:
    assumed online then.
    """
    import socket

    if any(os.environ.get(k) for k in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")):
        return True
    try:
        socket.create_connection((_PROBE_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _load_tfds(name, image_size, data_dir, download, val_fraction, test_fraction, seed):
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        if getattr(e, "name", None) not in (None, "tensorflow_datasets"):
            raise ImportError(_missing_package(name, e)) from None
        raise ImportError("tfds datasets need tensorflow-datasets: pip install "
                          "'keras-vit[train]'") from None
    if not name:
        raise ValueError("Empty tfds dataset name: use e.g. 'tfds:cifar10'")
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except ImportError as e:
        raise ImportError(_missing_package(name, e)) from None
    except Exception as e:  # tfds raises its own DatasetNotFoundError subclasses.
        raise ValueError(f"Unknown tfds dataset {name!r}: {e}") from None
    data_dir_of = getattr(builder, "data_dir", None)
    prepared = data_dir_of is not None and tf.io.gfile.exists(os.path.join(data_dir_of, "dataset_info.json"))
    if download and data_dir_of is not None and not prepared and not _online():
        # tfds would retry its downloads for minutes before failing.
        raise RuntimeError(
            f"tfds dataset {name!r} is not prepared in {data_dir_of} and this machine is offline (no connection "
            f"to {_PROBE_HOST}); prepare it where there is internet and pass its data_dir (--data-dir).")
    if download:
        try:
            builder.download_and_prepare()
        except ImportError as e:
            raise ImportError(_missing_package(name, e)) from None
        except Exception as e:
            raise RuntimeError(
                f"Could not download/prepare tfds dataset {name!r} (needs the internet or a "
                f"prepared data_dir, got data_dir={data_dir!r}): {e}") from None
    elif not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
        raise FileNotFoundError(
            f"tfds dataset {name!r} is not prepared in {builder.data_dir}; prepare it with "
            "download=True (needs the internet) or point data_dir at a prepared copy.")
    info = builder.info
    if info.supervised_keys is None or "label" not in info.features:
        raise ValueError(f"tfds dataset {name!r} has no (image, label) supervised keys")
    class_names = list(info.features["label"].names)
    splits = set(info.splits.keys())
    if "train" not in splits:
        raise ValueError(f"tfds dataset {name!r} has no 'train' split (has {sorted(splits)})")
    val_name = next((s for s in ("validation", "val") if s in splits), None)
    test_name = "test" if "test" in splits else None
    # Carve what is missing off the end of the train split, by percentage (tfds slicing).
    carve = (0 if val_name else val_fraction) + (0 if test_name else test_fraction)
    train_pct = int(round(100 * (1 - carve)))
    split_names = [f"train[:{train_pct}%]" if carve else "train"]
    cursor = train_pct
    if val_name:
        split_names.append(val_name)
    elif val_fraction == 0:
        split_names.append(None)  # no validation split: an empty one, below
    else:
        end = cursor + int(round(100 * val_fraction))
        split_names.append(f"train[{cursor}%:{end}%]")
        cursor = end
    split_names.append(test_name or f"train[{cursor}%:]")
    read_config = tfds.ReadConfig(shuffle_seed=seed)
    named = [s for s in split_names if s is not None]
    loaded = dict(zip(named, builder.as_dataset(split=named, as_supervised=True,
                                                shuffle_files=False, read_config=read_config)))
    datasets = [loaded[s] if s else loaded[split_names[0]].take(0) for s in split_names]
    sizes = [int(info.splits[s].num_examples) if s else 0 for s in split_names]

    def prep(image, label):
        return _resize_uint8(_to_rgb(image), image_size), tf.cast(label, tf.int64)

    train, val, test = (d.map(prep, num_parallel_calls=tf.data.AUTOTUNE) for d in datasets)
    image_key = info.supervised_keys[0]
    encoded = builder.as_dataset(split=split_names[0], as_supervised=True, shuffle_files=False,
                                 read_config=read_config,
                                 decoders={image_key: tfds.decode.SkipDecoding()})
    encoded = EncodedImages(encoded.map(lambda data, label: (data, tf.cast(label, tf.int64))), is_path=False)
    return DataSplits(train, val, test, class_names, *sizes, train_encoded=encoded)


def _list_class_folder(root):
    from keras_vit.data import list_image_folder

    classes, files, labels = list_image_folder(root)
    return classes, np.asarray(files), labels


def _load_folder(root, image_size, val_fraction, test_fraction, seed):
    from keras_vit.data import prepare_image

    named = {s: os.path.join(root, s) for s in ("train", "val", "validation", "test")
             if os.path.isdir(os.path.join(root, s))}
    if "train" in named and "test" in named:
        classes, train_f, train_l = _list_class_folder(named["train"])
        split_sets = []
        val_dir = named.get("val") or named.get("validation")
        if val_dir:
            split_sets.append((train_f, train_l))
        else:
            tr, va, _ = _stratified_split(train_l, val_fraction, 0.0, seed)
            split_sets.append((train_f[tr], train_l[tr]))
            split_sets.append((train_f[va], train_l[va]))
        for d in ([val_dir] if val_dir else []) + [named["test"]]:
            cls_d, f, l = _list_class_folder(d)
            if cls_d != classes:
                raise ValueError(f"Class folders of {d!r} differ from {named['train']!r}")
            split_sets.append((f, l))
    else:
        classes, files, labels = _list_class_folder(root)
        idx = _stratified_split(labels, val_fraction, test_fraction, seed)
        split_sets = [(files[i], labels[i]) for i in idx]
    for (f, _), split in zip(split_sets, ("train", "validation", "test")):
        if len(f) == 0 and not (split == "validation" and val_fraction == 0):
            raise ValueError(f"Image folder {root!r} gives an empty {split} split; add images "
                             "or change val_fraction/test_fraction")

    def decode(path, label):
        # keras_vit.data.prepare_image: the same preparation as `keras-vit predict --resize`
        # and the on-device example (any format Pillow reads, 16-bit rescaled, not clipped).
        image = tf.numpy_function(
            lambda p: prepare_image(p.decode("utf-8"), image_size), [path], tf.uint8)
        image.set_shape([image_size, image_size, 3])
        return image, label

    records = [tf.data.Dataset.from_tensor_slices((f, l)) for f, l in split_sets]
    made = [r.map(decode, num_parallel_calls=tf.data.AUTOTUNE) for r in records]
    return DataSplits(*made, classes, *(len(f) for f, _ in split_sets),
                      train_encoded=EncodedImages(records[0], is_path=True))
