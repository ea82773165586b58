"""TFLite metadata for image classifiers: what MediaPipe Tasks and other clients read.

A `.tflite` file written by :func:`keras_vit.tflite.export_model` carries the standard TFLite
metadata (``metadata_schema.fbs``, file identifier ``M001``, the ``TFLITE_METADATA`` entry of
the model's ``metadata`` list) and, appended after the flatbuffer, a zip archive with its
associated file ``labels.txt`` ("model with associated files"):

* model name, description, version, author, license;
* the input: RGB image properties, the ``NormalizationOptions`` a client applies to pixels in
  [0, 255] before feeding them (mean 0, std 1 when the normalization is inside the graph, as
  it is for keras_vit models with ``include_preprocessing=True``), and the pixel range as stats;
* the output: the class names as a ``TENSOR_AXIS_LABELS`` file, one per line.

MediaPipe Tasks' ``ImageClassifier`` (Android, iOS, web, Python) needs exactly this to load a
float-input classifier and name its categories. LiteRT's interpreters ignore both the metadata
and the appended archive, so outputs do not change (tests/tflite/test_metadata.py).

Why our own code: the metadata writer that once did this, tflite-support, is unmaintained (no
wheels for current Python) and MediaPipe's copy of it does not import. The schema is small and
stable, so the metadata flatbuffer is built here with the ``flatbuffers`` package (already a
dependency of TensorFlow and LiteRT), field by field from the published schema; the model
flatbuffer is rewritten with TensorFlow's own generated schema classes, keeping every weight
buffer 16-byte aligned as the converter wrote it. Reading needs only ``flatbuffers``.

Example:
    >>> write_metadata("model.tflite", class_names=["cat", "dog"], name="vit_tiny")
    >>> read_metadata("model.tflite")["class_names"]  # the two names, in order
"""
import io
import os
import zipfile

import flatbuffers
import numpy as np
from flatbuffers.table import Table

METADATA_NAME = "TFLITE_METADATA"  # the name every reader looks for in Model.metadata
METADATA_IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"
# Every field written here exists since schema 1.0.0; a reader of that version understands all.
MIN_PARSER_VERSION = "1.0.0"
DEFAULT_AUTHOR = "keras-vit"
DEFAULT_LICENSE = "Apache-2.0"

# metadata_schema.fbs: enum values and union member indices.
_TENSOR_AXIS_LABELS = 2
_COLOR_RGB = 1
_CONTENT_FEATURE, _CONTENT_IMAGE = 1, 2
_PROCESS_NORMALIZATION = 1
_ASSOCIATED_FILE_TYPES = {0: "UNKNOWN", 1: "DESCRIPTIONS", 2: "TENSOR_AXIS_LABELS", 3: "TENSOR_VALUE_LABELS",
                          4: "TENSOR_AXIS_SCORE_CALIBRATION", 5: "VOCABULARY", 6: "SCANN_INDEX_FILE"}

# Field slots (declaration order; a union takes two: its type, then its value).
# ModelMetadata
_MM_NAME, _MM_DESCRIPTION, _MM_VERSION, _MM_SUBGRAPHS, _MM_AUTHOR, _MM_LICENSE, _MM_FILES, _MM_MIN_PARSER = range(8)
# SubGraphMetadata
_SG_NAME, _SG_DESCRIPTION, _SG_INPUTS, _SG_OUTPUTS = range(4)
# TensorMetadata
_TM_NAME, _TM_DESCRIPTION, _TM_DIMENSION_NAMES, _TM_CONTENT, _TM_PROCESS_UNITS, _TM_STATS, _TM_FILES = range(7)
# Content, ImageProperties, ProcessUnit, NormalizationOptions, Stats, AssociatedFile
_CONTENT_TYPE, _CONTENT_VALUE = 0, 1
_IMAGE_COLOR_SPACE = 0
_PU_TYPE, _PU_VALUE = 0, 1
_NORM_MEAN, _NORM_STD = 0, 1
_STATS_MAX, _STATS_MIN = 0, 1
_AF_NAME, _AF_DESCRIPTION, _AF_TYPE = 0, 1, 2
# schema.fbs (the model): Model.buffers / Model.metadata, Metadata.name / .buffer, Buffer.data / .offset
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA, _BUFFER_OFFSET = 0, 1

__all__ = ["write_metadata", "add_metadata", "read_metadata", "for_export", "input_normalization",
           "class_names_for", "default_class_names", "imagenet_class_names", "gpu_compatibility", "MetadataError"]


class MetadataError(ValueError):
    """The metadata cannot be written or read (bad class names, not a TFLite file...)."""


def default_class_names(num_classes):
    """``["class_0", "class_1", ...]``: the names used when the data gives none."""
    return [f"class_{i}" for i in range(int(num_classes))]


def imagenet_class_names():
    """The 1000 ImageNet-1k class names in the standard index order (``0`` is ``"tench"``)."""
    from .imagenet_classes import IMAGENET_CLASSES

    return list(IMAGENET_CLASSES)


def _data_class_names(spec):
    """Class names a dataset spec gives (as :func:`keras_vit.datasets.load_dataset` orders its labels), or None."""
    if spec == "digits":
        return [str(i) for i in range(10)]
    if spec.startswith("tfds:"):
        try:
            import tensorflow_datasets as tfds

            return list(tfds.builder(spec[len("tfds:"):]).info.features["label"].names)
        except Exception:  # not installed, unknown name, no "label" feature: no names to give
            return None
    folder = spec[len("folder:"):] if spec.startswith("folder:") else spec
    if not os.path.isdir(folder):
        return None  # .npy/.npz arrays carry no names
    # A folder with train/ and test/ splits keeps its classes one level down (training's layout).
    if os.path.isdir(os.path.join(folder, "train")) and os.path.isdir(os.path.join(folder, "test")):
        folder = os.path.join(folder, "train")
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)) and not d.startswith("."))
    return classes or None


def class_names_for(num_classes, data=None, imagenet=False):
    """The class names of a model with ``num_classes`` outputs, from what is known about it.

    Args:
        num_classes: the model's output classes.
        data: the dataset spec it was trained on or is exported with (``"digits"``,
            ``"tfds:NAME"``, an image folder): its label names, when there are ``num_classes``.
        imagenet: the weights are ImageNet-1k's: the 1000 ImageNet-1k names.

    Returns:
        ``(names, source)``: one name per class and where they came from (``"digits"``, the
        folder, ...; ``"default"`` for ``class_0``...).
    """
    if data:
        names = _data_class_names(os.fspath(data))
        if names is not None and len(names) == num_classes:
            return names, data
    if imagenet and num_classes == 1000:
        return imagenet_class_names(), "ImageNet-1k"
    return default_class_names(num_classes), "default"


def input_normalization(model):
    """``(mean, std)`` in [0, 255] pixel units that a client applies before feeding ``model``.

    keras_vit models built with ``include_preprocessing=True`` (the default), and any model
    whose first layer rescales or normalizes its input, take raw pixels: ``(0, 1)`` per
    channel. A registry model built without it expects its own normalization, so the registry's
    mean/std (in [0, 1] units) times 255 are returned. Any other model is assumed to take raw
    pixels, as :func:`keras_vit.tflite.export_model` documents.
    """
    raw = ([0.0] * 3, [1.0] * 3)
    first = [layer for layer in getattr(model, "layers", [])[1:2]]
    names = {type(layer).__name__ for layer in first}
    if names & {"Preprocessing", "Rescaling", "Normalization"}:
        return raw
    if any(type(layer).__name__ == "Preprocessing" for layer in getattr(model, "layers", [])):
        return raw
    try:
        from keras_vit.registry import get_model_spec

        spec = get_model_spec(model.name)
    except (ImportError, KeyError, ValueError, AttributeError):
        return raw
    return [255.0 * float(m) for m in spec.mean], [255.0 * float(s) for s in spec.std]


def _check_class_names(class_names, num_classes):
    if class_names is None:
        return default_class_names(num_classes)
    names = [str(n) for n in class_names]
    if len(names) != num_classes:
        raise MetadataError(f"{len(names)} class names for a model with {num_classes} output classes; give one "
                            "name per class (or none for class_0, class_1, ...).")
    bad = [n for n in names if not n.strip() or "\n" in n or "\r" in n]
    if bad:
        raise MetadataError(f"Class names must be non-empty single lines (labels.txt has one per line), got {bad[:3]!r}.")
    return names


# ---------------------------------------------------------------- building the metadata flatbuffer

def _strings(builder, values):
    offsets = [builder.CreateString(v) for v in values]
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def _tables(builder, offsets):
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return builder.EndVector()


def _floats(builder, values):
    builder.StartVector(4, len(values), 4)
    for v in reversed(values):
        builder.PrependFloat32(float(v))
    return builder.EndVector()


def _table(builder, num_slots, offsets=(), bytes_=()):
    """A table from ``(slot, offset)`` references and ``(slot, int8 value)`` scalars."""
    builder.StartObject(num_slots)
    for slot, off in offsets:
        if off is not None:
            builder.PrependUOffsetTRelativeSlot(slot, off, 0)
    for slot, value in bytes_:
        builder.PrependInt8Slot(slot, value, 0)
    return builder.EndObject()


def _tensor(builder, name, description, content_type, content, process_units=(), stats=None, files=()):
    name, description = builder.CreateString(name), builder.CreateString(description)
    content = _table(builder, 3, [(_CONTENT_VALUE, content)], [(_CONTENT_TYPE, content_type)])
    units = _tables(builder, list(process_units)) if process_units else None
    stats = _table(builder, 2, [(_STATS_MAX, _floats(builder, stats[1])),
                                (_STATS_MIN, _floats(builder, stats[0]))]) if stats else None
    files = _tables(builder, list(files)) if files else None
    return _table(builder, 7, [(_TM_NAME, name), (_TM_DESCRIPTION, description), (_TM_CONTENT, content),
                               (_TM_PROCESS_UNITS, units), (_TM_STATS, stats), (_TM_FILES, files)])


def build_metadata(class_names, mean, std, *, name, description, version, author, license, input_range=(0, 255),
                   output_description=None):
    """The ``ModelMetadata`` flatbuffer (identifier ``M001``) of an image classifier.

    Args:
        class_names: one name per output class (written to ``labels.txt``).
        mean, std: per-channel ``NormalizationOptions``: the client feeds ``(pixel - mean) / std``.
        name, description, version, author, license: the model's descriptive fields.
        input_range: ``(min, max)`` of the input values, the input tensor's stats.
        output_description: description of the score tensor.
    """
    b = flatbuffers.Builder(1024)
    # Input: RGB image properties, normalization, stats.
    image = _table(b, 2, bytes_=[(_IMAGE_COLOR_SPACE, _COLOR_RGB)])
    norm = _table(b, 2, [(_NORM_MEAN, _floats(b, mean)), (_NORM_STD, _floats(b, std))])
    unit = _table(b, 2, [(_PU_VALUE, norm)], [(_PU_TYPE, _PROCESS_NORMALIZATION)])
    image_in = _tensor(b, "image", "RGB image; pixels in [0, 255] become (pixel - mean) / std (NormalizationOptions).",
                       _CONTENT_IMAGE, image, [unit], ([float(input_range[0])], [float(input_range[1])]))
    # Output: the class scores and their labels file.
    labels = _table(b, 3, [(_AF_NAME, b.CreateString(LABELS_FILE)),
                           (_AF_DESCRIPTION, b.CreateString("Class names, one per line, in output order."))],
                    [(_AF_TYPE, _TENSOR_AXIS_LABELS)])
    feature = _table(b, 0)
    scores_out = _tensor(b, "scores", output_description or "Class scores (logits unless the model applies "
                         "softmax); labels.txt names them in order.", _CONTENT_FEATURE, feature, files=[labels])
    subgraph = _table(b, 4, [(_SG_NAME, b.CreateString("image_classifier")),
                             (_SG_INPUTS, _tables(b, [image_in])), (_SG_OUTPUTS, _tables(b, [scores_out]))])
    fields = [(_MM_NAME, name), (_MM_DESCRIPTION, description), (_MM_VERSION, version), (_MM_AUTHOR, author),
              (_MM_LICENSE, license), (_MM_MIN_PARSER, MIN_PARSER_VERSION)]
    strings = [(slot, b.CreateString(str(value))) for slot, value in fields if value is not None]
    root = _table(b, 8, strings + [(_MM_SUBGRAPHS, _tables(b, [subgraph]))])
    b.Finish(root, file_identifier=METADATA_IDENTIFIER)
    del class_names  # the names travel in labels.txt; the metadata only names the file
    return bytes(b.Output())


# ---------------------------------------------------------------- the model flatbuffer

def _schema():
    """TensorFlow's generated classes for the TFLite model schema (LiteRT's as a fallback)."""
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:
        from ai_edge_litert import schema_py_generated as schema
    return schema


def _check_tflite(data):
    if bytes(data[4:8]) != b"TFL3":
        raise MetadataError("Not a TFLite model (its flatbuffer identifier is not TFL3).")
    return bytes(data)


def _pack_aligned(schema):
    """A ``BufferT`` subclass that packs its data 16-byte aligned, as the converter does."""

    class AlignedBufferT(schema.BufferT):
        def Pack(self, builder):
            data = None
            if self.data is not None:
                raw = np.ascontiguousarray(self.data, dtype=np.uint8).reshape(-1)
                builder.StartVector(1, raw.size, 16)
                builder.head = builder.Head() - raw.size
                builder.Bytes[builder.Head():builder.Head() + raw.size] = raw.tobytes()
                builder.vectorNumElems = raw.size
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBufferT


def _with_metadata_buffer(model_bytes, metadata_bytes):
    """``model_bytes`` with ``TFLITE_METADATA`` pointing at a buffer holding ``metadata_bytes``.

    An earlier ``TFLITE_METADATA`` entry keeps its buffer, which gets the new bytes (so writing
    twice gives the same file as writing once); the converter's own entries
    (``min_runtime_version``, ``CONVERSION_METADATA``) are kept.
    """
    schema = _schema()
    model = schema.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)
    if any(getattr(b, "offset", 0) > 1 for b in model.buffers or []):
        raise MetadataError("This model keeps its weights outside the flatbuffer (over 2 GB); metadata is not supported.")
    aligned = _pack_aligned(schema)
    for buf in model.buffers:
        buf.__class__ = aligned
    data = np.frombuffer(metadata_bytes, dtype=np.uint8)
    entries = [e for e in model.metadata or [] if (e.name.decode() if isinstance(e.name, bytes) else e.name) == METADATA_NAME]
    if entries:
        model.buffers[entries[0].buffer].data = data
    else:
        new_buffer = aligned()
        new_buffer.data = data
        model.buffers.append(new_buffer)
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(model.buffers) - 1
        model.metadata = (model.metadata or []) + [entry]
    builder = flatbuffers.Builder(len(model_bytes) + len(metadata_bytes) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _zip_appended(model_bytes, files):
    """``model_bytes`` followed by a zip archive of ``files`` (name -> bytes), stored uncompressed:
    MediaPipe reads associated files in place from the model buffer, which needs stored entries."""
    out = io.BytesIO()
    out.write(model_bytes)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # fixed: same input, same bytes
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, data)
    return out.getvalue()


def _classifier_problem(model_bytes):
    """Why the model is not an image classifier (one ``(B, H, W, C)`` input, one ``(B, classes)``
    output), or ``None`` when it is."""
    sub = _schema().Model.GetRootAs(model_bytes, 0).Subgraphs(0)
    if sub.OutputsLength() != 1 or sub.InputsLength() != 1:
        return f"{sub.InputsLength()} inputs and {sub.OutputsLength()} outputs (an image classifier has one of each)"
    in_shape = sub.Tensors(sub.Inputs(0)).ShapeAsNumpy()
    out_shape = sub.Tensors(sub.Outputs(0)).ShapeAsNumpy()
    if not (np.ndim(in_shape) == 1 and len(in_shape) == 4 and np.ndim(out_shape) == 1 and len(out_shape) == 2):
        return f"input shape {list(np.atleast_1d(in_shape))} and output shape {list(np.atleast_1d(out_shape))} " \
               "(an image classifier maps (B, H, W, C) images to (B, classes) scores)"
    return None


def _output_classes(model_bytes):
    """Number of classes of the model's output (its last dimension)."""
    problem = _classifier_problem(model_bytes)
    if problem is not None:
        raise MetadataError(f"Image classifier metadata does not fit a model with {problem}.")
    sub = _schema().Model.GetRootAs(model_bytes, 0).Subgraphs(0)
    return int(sub.Tensors(sub.Outputs(0)).ShapeAsNumpy()[-1])


def add_metadata(model_bytes, class_names=None, *, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), name="image_classifier",
                 description=None, version="1", author=DEFAULT_AUTHOR, license=DEFAULT_LICENSE, input_range=(0, 255)):
    """Return ``model_bytes`` (a `.tflite` flatbuffer) with image-classifier metadata and labels.

    The result is the model flatbuffer with a ``TFLITE_METADATA`` buffer, followed by a zip
    archive holding ``labels.txt``. Applying it again replaces the earlier metadata and labels.

    Args:
        model_bytes: the `.tflite` bytes (a file with metadata already is accepted).
        class_names: one name per output class; ``None``: ``class_0``, ``class_1``...
        mean, std: per-channel normalization a client applies to [0, 255] pixels
            (see :func:`input_normalization`).
        name, description, version, author, license: descriptive fields.
        input_range: stats of the input values (pixels: ``(0, 255)``).

    Raises:
        MetadataError: not a TFLite file, not one input and one output, or class names that
            do not fit the output.
    """
    # A zip archive appended by an earlier call is dropped: the model is rebuilt from its root.
    flat = _check_tflite(model_bytes)
    names = _check_class_names(class_names, _output_classes(flat))
    if len(mean) != len(std) or any(not float(s) > 0 for s in std):
        raise MetadataError(f"mean and std need one value per channel and std > 0, got {mean!r} and {std!r}.")
    description = description or (f"{name}: image classifier over {len(names)} classes, exported by keras-vit. "
                                  "Input: one RGB image; output: one score per class (labels.txt).")
    meta = build_metadata(names, mean, std, name=name, description=description, version=version, author=author,
                          license=license, input_range=input_range)
    return _zip_appended(_with_metadata_buffer(flat, meta), {LABELS_FILE: ("\n".join(names) + "\n").encode("utf-8")})


def write_metadata(path, class_names=None, **kwargs):
    """Add metadata and labels to the `.tflite` file at ``path``, atomically (see :func:`add_metadata`).

    The new file is written beside ``path`` and renamed over it, so a crash leaves either the
    old file or the new one. Returns the size added, in bytes.
    """
    from keras_vit.utils import io as atomic_io

    with open(path, "rb") as f:
        before = f.read()
    after = add_metadata(before, class_names, **kwargs)
    atomic_io.write_bytes(path, after)
    return len(after) - len(before)


def _package_version():
    import keras_vit

    return getattr(keras_vit, "__version__", None)


def for_export(model_bytes, model, class_names=None):
    """``model_bytes`` with the metadata :func:`keras_vit.tflite.export_model` writes for ``model``.

    The name is the Keras model's, the normalization comes from :func:`input_normalization`, and
    ``class_names`` (default ``class_0``...) name the output. A model that is not an image
    classifier (a feature extractor, several outputs) is returned unchanged: the classifier
    metadata would misdescribe it.
    """
    model_bytes = _check_tflite(model_bytes)
    if _classifier_problem(model_bytes) is not None:
        return model_bytes
    mean, std = input_normalization(model)
    version = _package_version()
    return add_metadata(model_bytes, class_names, mean=mean, std=std, name=getattr(model, "name", None) or "model",
                        version=f"keras-vit {version}" if version else None)


def gpu_compatibility(path):
    """What TensorFlow Lite's analyzer says about running ``path`` with the GPU delegate.

    The analyzer is static: it checks every operator against the GPU delegate's rules without a
    GPU (``tf.lite.experimental.Analyzer.analyze(..., gpu_compatibility=True)``, whose report
    is printed, hence captured here).

    Returns:
        ``(compatible, warnings)``: ``compatible`` is True when the analyzer finds the model
        compatible, None when TensorFlow is not installed; ``warnings`` lists its
        ``GPU COMPATIBILITY WARNING`` lines.
    """
    import contextlib

    try:
        import tensorflow as tf
    except ImportError:
        return None, []
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tf.lite.experimental.Analyzer.analyze(model_path=os.fspath(path), gpu_compatibility=True)
    text = out.getvalue()
    warnings = sorted({line.strip() for line in text.splitlines() if "GPU COMPATIBILITY WARNING" in line})
    return "looks compatible with GPU delegate" in text and not warnings, warnings


# ---------------------------------------------------------------- reading

def _root(buf, identifier):
    if bytes(buf[4:8]) != identifier:
        raise MetadataError(f"Expected a flatbuffer with identifier {identifier!r}, got {bytes(buf[4:8])!r}.")
    return Table(buf, flatbuffers.encode.Get(flatbuffers.packer.uoffset, buf, 0))


def _field(tab, slot):
    """The absolute position of ``slot``'s value in ``tab``, or 0 when absent."""
    off = tab.Offset(4 + 2 * slot)
    return tab.Pos + off if off else 0


def _str(tab, slot):
    pos = _field(tab, slot)
    return tab.String(pos).decode("utf-8") if pos else None


def _sub(tab, slot):
    pos = _field(tab, slot)
    return Table(tab.Bytes, tab.Indirect(pos)) if pos else None


def _vec_tables(tab, slot):
    pos = _field(tab, slot)
    if not pos:
        return []
    start, n = tab.Vector(pos - tab.Pos), tab.VectorLen(pos - tab.Pos)
    return [Table(tab.Bytes, tab.Indirect(start + 4 * i)) for i in range(n)]


def _vec_floats(tab, slot):
    pos = _field(tab, slot)
    if not pos:
        return None
    start, n = tab.Vector(pos - tab.Pos), tab.VectorLen(pos - tab.Pos)
    return [float(v) for v in np.frombuffer(bytes(tab.Bytes[start:start + 4 * n]), dtype="<f4")]


def _int8(tab, slot, default=0):
    pos = _field(tab, slot)
    return int(np.frombuffer(bytes(tab.Bytes[pos:pos + 1]), dtype=np.int8)[0]) if pos else default


def _metadata_buffer(data):
    """The ``TFLITE_METADATA`` bytes of a `.tflite` flatbuffer, or ``None``."""
    model = _root(data, b"TFL3")
    for entry in _vec_tables(model, _MODEL_METADATA):
        if _str(entry, _METADATA_NAME) == METADATA_NAME:
            index_pos = _field(entry, _METADATA_BUFFER)
            index = int(flatbuffers.encode.Get(flatbuffers.packer.uint32, data, index_pos)) if index_pos else 0
            buffer = _vec_tables(model, _MODEL_BUFFERS)[index]
            pos = _field(buffer, _BUFFER_DATA)
            if not pos:
                return None
            start, n = buffer.Vector(pos - buffer.Pos), buffer.VectorLen(pos - buffer.Pos)
            return bytes(data[start:start + n])
    return None


def _associated_files(tab, slot):
    return [{"name": _str(f, _AF_NAME), "description": _str(f, _AF_DESCRIPTION),
             "type": _ASSOCIATED_FILE_TYPES.get(_int8(f, _AF_TYPE), "UNKNOWN")} for f in _vec_tables(tab, slot)]


def _tensor_dict(t):
    out = {"name": _str(t, _TM_NAME), "description": _str(t, _TM_DESCRIPTION),
           "associated_files": _associated_files(t, _TM_FILES)}
    content = _sub(t, _TM_CONTENT)
    if content is not None:
        kind = _int8(content, _CONTENT_TYPE)
        out["content"] = {_CONTENT_IMAGE: "image", _CONTENT_FEATURE: "feature"}.get(kind, str(kind))
        if kind == _CONTENT_IMAGE:
            image = _sub(content, _CONTENT_VALUE)
            out["color_space"] = {1: "RGB", 2: "GRAYSCALE"}.get(_int8(image, _IMAGE_COLOR_SPACE), "UNKNOWN")
    for unit in _vec_tables(t, _TM_PROCESS_UNITS):
        if _int8(unit, _PU_TYPE) == _PROCESS_NORMALIZATION:
            norm = _sub(unit, _PU_VALUE)
            out["normalization"] = {"mean": _vec_floats(norm, _NORM_MEAN), "std": _vec_floats(norm, _NORM_STD)}
    stats = _sub(t, _TM_STATS)
    if stats is not None:
        out["stats"] = {"min": _vec_floats(stats, _STATS_MIN), "max": _vec_floats(stats, _STATS_MAX)}
    return out


def read_metadata(path_or_bytes):
    """The TFLite metadata of a `.tflite` file as a dict, or ``None`` when it has none.

    Keys: ``name``, ``description``, ``version``, ``author``, ``license``,
    ``min_parser_version``, ``inputs``/``outputs`` (per tensor: ``name``, ``content``,
    ``color_space``, ``normalization`` ``{"mean", "std"}``, ``stats`` ``{"min", "max"}``,
    ``associated_files``), ``associated_files`` (names of the files packed in the archive),
    ``class_names`` (the output's ``TENSOR_AXIS_LABELS`` file, or ``None``), and
    ``normalization`` (the input's, or ``None``).

    Needs only ``flatbuffers`` and the standard library (no TensorFlow).

    Example:
        >>> meta = read_metadata("model_int8.tflite")
        >>> names, normalization = meta["class_names"], meta["normalization"]
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    else:
        with open(path_or_bytes, "rb") as f:
            data = f.read()
    if data[4:8] != b"TFL3":
        raise MetadataError(f"{path_or_bytes if isinstance(path_or_bytes, str) else 'The data'} is not a TFLite "
                            "model (no TFL3 identifier).")
    raw = _metadata_buffer(data)
    if raw is None:
        return None
    meta = _root(raw, METADATA_IDENTIFIER)
    subgraphs = _vec_tables(meta, _MM_SUBGRAPHS)
    inputs = [_tensor_dict(t) for t in _vec_tables(subgraphs[0], _SG_INPUTS)] if subgraphs else []
    outputs = [_tensor_dict(t) for t in _vec_tables(subgraphs[0], _SG_OUTPUTS)] if subgraphs else []
    packed = {}
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            packed = {name: zf.read(name) for name in zf.namelist()}
    except zipfile.BadZipFile:
        pass
    class_names = None
    for f in (outputs[0]["associated_files"] if outputs else []):
        if f["type"] == "TENSOR_AXIS_LABELS" and f["name"] in packed:
            class_names = [line for line in packed[f["name"]].decode("utf-8").splitlines() if line.strip()]
            break
    return {
        "name": _str(meta, _MM_NAME), "description": _str(meta, _MM_DESCRIPTION), "version": _str(meta, _MM_VERSION),
        "author": _str(meta, _MM_AUTHOR), "license": _str(meta, _MM_LICENSE),
        "min_parser_version": _str(meta, _MM_MIN_PARSER), "inputs": inputs, "outputs": outputs,
        "associated_files": sorted(packed), "class_names": class_names,
        "normalization": inputs[0].get("normalization") if inputs else None,
    }
