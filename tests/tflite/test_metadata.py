"""TFLite metadata (keras_vit.tflite.metadata): what is written, that every reader still runs the
file unchanged, and that class names come from the data."""
import io
import os
import zipfile

import numpy as np
import pytest

from keras_vit.tflite import cli, export_model
from keras_vit.tflite import metadata as md

NAMES = [f"digit {i}" for i in range(10)]


@pytest.fixture(scope="module")
def plain_and_named(toy_vit, pixel_data, tmp_path_factory):
    """``{variant: (converter bytes, bytes with metadata, path of the latter)}`` of the toy ViT in
    every quantization and input type, the metadata added as export_model adds it."""
    from keras_vit.tflite.convert import convert_tflite

    folder = tmp_path_factory.mktemp("metadata")
    saved = str(folder / "saved_model")
    export_model(toy_vit, saved, format="saved_model", verify=False)
    variants = {"float32": ("none", None), "float16": ("float16", None), "dynamic": ("dynamic", None),
                "int8_uint8": ("int8", "uint8"), "int8_int8": ("int8", "int8")}
    out = {}
    for name, (quantize, io_dtype) in variants.items():
        plain, _ = convert_tflite(saved, (32, 32, 3), 1, quantize, pixel_data, io_dtype, io_dtype, 48)
        named = md.for_export(plain, toy_vit, NAMES)
        path = folder / f"{name}.tflite"
        path.write_bytes(named)
        out[name] = (plain, named, str(path))
    return out


def _interpreter_outputs(content, images):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content, num_threads=1)
    interpreter.allocate_tensors()
    inp, outp = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for image in images:
        x = image[None]
        if inp["dtype"] != np.float32:  # integer input: quantize the pixels as a client would
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max).astype(inp["dtype"])
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        results.append(interpreter.get_tensor(outp["index"])[0].copy())
    return np.stack(results)


@pytest.mark.slow
def test_metadata_fields(plain_and_named):
    for name, (_, named, path) in plain_and_named.items():
        meta = md.read_metadata(path)
        assert meta["name"] == "toy_vit" and meta["author"] and meta["license"] and meta["version"], name
        assert meta["min_parser_version"] == "1.0.0"
        assert meta["class_names"] == NAMES
        image = meta["inputs"][0]
        assert image["content"] == "image" and image["color_space"] == "RGB"
        # The toy model rescales inside its graph: clients feed raw pixels.
        assert meta["normalization"] == {"mean": [0.0] * 3, "std": [1.0] * 3}
        assert image["stats"] == {"min": [0.0], "max": [255.0]}
        labels = meta["outputs"][0]["associated_files"]
        assert labels == [{"name": "labels.txt", "description": labels[0]["description"], "type": "TENSOR_AXIS_LABELS"}]
        # The archive after the flatbuffer: stored, not deflated (MediaPipe reads it in place).
        with zipfile.ZipFile(io.BytesIO(named)) as zf:
            assert [(i.filename, i.compress_type) for i in zf.infolist()] == [("labels.txt", zipfile.ZIP_STORED)]
            assert zf.read("labels.txt").decode().splitlines() == NAMES
        assert md.read_metadata(plain_and_named[name][0]) is None


def test_metadata_matches_the_published_schema(plain_and_named):
    """MediaPipe's generated code for metadata_schema.fbs reads what our own builder wrote."""
    schema = pytest.importorskip("mediapipe.tasks.metadata.metadata_schema_py_generated")
    from ai_edge_litert import schema_py_generated as model_schema

    named = plain_and_named["float32"][1]
    model = model_schema.Model.GetRootAs(named, 0)
    entries = {model.Metadata(i).Name().decode(): model.Metadata(i).Buffer() for i in range(model.MetadataLength())}
    assert "min_runtime_version" in entries  # the converter's own entries are kept
    buffer = model.Buffers(entries["TFLITE_METADATA"]).DataAsNumpy().tobytes()
    assert schema.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0)
    meta = schema.ModelMetadataT.InitFromPackedBuf(bytearray(buffer), 0)
    tensor = meta.subgraphMetadata[0].inputTensorMetadata[0]
    assert tensor.content.contentPropertiesType == schema.ContentProperties.ImageProperties
    assert tensor.content.contentProperties.colorSpace == schema.ColorSpaceType.RGB
    unit = tensor.processUnits[0]
    assert unit.optionsType == schema.ProcessUnitOptions.NormalizationOptions
    assert list(unit.options.mean) == [0.0] * 3 and list(unit.options.std) == [1.0] * 3
    label_file = meta.subgraphMetadata[0].outputTensorMetadata[0].associatedFiles[0]
    assert label_file.name == b"labels.txt" and label_file.type == schema.AssociatedFileType.TENSOR_AXIS_LABELS


def test_interpreter_outputs_are_bit_identical(plain_and_named, pixel_data):
    for name, (plain, named, _) in plain_and_named.items():
        before = _interpreter_outputs(plain, pixel_data[:4])
        after = _interpreter_outputs(named, pixel_data[:4])
        assert np.array_equal(before, after), name
        # Every weight buffer keeps the converter's 16-byte alignment.
        from ai_edge_litert import schema_py_generated as model_schema

        model = model_schema.Model.GetRootAs(named, 0)
        start = np.frombuffer(named, np.uint8).ctypes.data
        for i in range(model.BuffersLength()):
            if model.Buffers(i).DataLength():
                assert (model.Buffers(i).DataAsNumpy().ctypes.data - start) % 16 == 0, (name, i)


def test_compiled_model_runs_the_serving_signature(plain_and_named, pixel_data):
    """LiteRT's CompiledModel (the API LiteRT 2.x recommends on Android) gives the same outputs."""
    compiled_model = pytest.importorskip("ai_edge_litert.compiled_model")
    for name in ("float32", "float16", "dynamic"):
        plain, named, path = plain_and_named[name]
        model = compiled_model.CompiledModel.from_file(path)
        assert "serving_default" in model.get_signature_list()
        index = model.get_signature_index("serving_default")
        inputs, outputs = model.create_input_buffers(index), model.create_output_buffers(index)
        got = []
        for image in pixel_data[:3]:
            inputs[0].write(image[None].astype(np.float32))
            model.run_by_index(index, inputs, outputs)
            got.append(outputs[0].read(10, np.float32))
        assert np.array_equal(np.stack(got), _interpreter_outputs(named, pixel_data[:3])), name


def test_size_overhead_is_small(plain_and_named):
    for name, (plain, named, _) in plain_and_named.items():
        assert 0 < len(named) - len(plain) < 2048, (name, len(named) - len(plain))


def test_rewriting_replaces_the_metadata(plain_and_named):
    _, named, _ = plain_and_named["float32"]
    again = md.add_metadata(named, NAMES, name="toy_vit", version=md.read_metadata(named)["version"])
    assert again == named  # the metadata buffer is reused and the old archive dropped: same bytes
    other = md.add_metadata(named, list("abcdefghij"))
    assert md.read_metadata(other)["class_names"] == list("abcdefghij")
    model_entries = md.read_metadata(other)
    assert model_entries["associated_files"] == ["labels.txt"]


def test_write_metadata_is_atomic_and_checks_names(plain_and_named, tmp_path):
    plain, _, _ = plain_and_named["dynamic"]
    path = tmp_path / "m.tflite"
    path.write_bytes(plain)
    with pytest.raises(md.MetadataError, match="3 class names for a model with 10"):
        md.write_metadata(str(path), ["a", "b", "c"])
    with pytest.raises(md.MetadataError, match="single lines"):
        md.write_metadata(str(path), ["a\nb"] + NAMES[1:])
    assert path.read_bytes() == plain  # nothing changed
    added = md.write_metadata(str(path), None)
    assert added > 0 and md.read_metadata(str(path))["class_names"] == [f"class_{i}" for i in range(10)]
    assert sorted(os.listdir(tmp_path)) == ["m.tflite"]  # no temporary file left
    with pytest.raises(md.MetadataError, match="Not a TFLite"):
        md.add_metadata(b"\0" * 64)


def test_class_names_from_the_data(tmp_path):
    assert md.class_names_for(10, data="digits") == ([str(i) for i in range(10)], "digits")
    for cls in ("cat", "dog", ".hidden"):
        (tmp_path / "flat" / cls).mkdir(parents=True)
    assert md.class_names_for(2, data=str(tmp_path / "flat"))[0] == ["cat", "dog"]
    for split in ("train", "test"):
        for cls in ("ant", "bee"):
            (tmp_path / "splits" / split / cls).mkdir(parents=True)
    assert md.class_names_for(2, data=str(tmp_path / "splits"))[0] == ["ant", "bee"]
    # Names that do not fit the model are not used.
    assert md.class_names_for(3, data="digits") == (["class_0", "class_1", "class_2"], "default")
    names, source = md.class_names_for(1000, imagenet=True)
    assert source == "ImageNet-1k" and len(names) == 1000 and names[0] == "tench" and names[-1] == "toilet tissue"


def test_normalization_of_a_model_without_preprocessing():
    import keras_vit

    spec = keras_vit.get_model_spec("vit_tiny_patch16_224")
    model = keras_vit.create_model("vit_tiny_patch16_224", **{**spec.tiny, "include_preprocessing": False})
    mean, std = md.input_normalization(model)
    assert mean == pytest.approx([255 * m for m in spec.mean]) and std == pytest.approx([255 * s for s in spec.std])
    assert md.input_normalization(keras_vit.create_model("vit_tiny_patch16_224", **spec.tiny)) == ([0.0] * 3, [1.0] * 3)


def test_predict_prints_the_names_in_the_file(plain_and_named, tmp_path, capsys):
    from PIL import Image

    _, _, path = plain_and_named["float32"]
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(tmp_path / "x.png")
    assert cli.main(["predict", path, str(tmp_path / "x.png"), "--top-k", "2"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.count("digit ") == 2, line


@pytest.mark.slow
def test_export_model_writes_the_names(toy_vit, tmp_path):
    result = export_model(toy_vit, str(tmp_path / "m.tflite"), verify=False, class_names=NAMES)
    assert md.read_metadata(result.path)["class_names"] == NAMES
    assert result.gpu_compatible is True


def test_cli_export_names_come_from_data_or_weights(toy_vit):
    import argparse

    import keras_vit

    args = argparse.Namespace(model="toy.keras", weights=None, data="digits")
    assert cli._class_names(toy_vit, args) == [str(i) for i in range(10)]
    args.data = None
    assert cli._class_names(toy_vit, args) == [f"class_{i}" for i in range(10)]
    spec = keras_vit.get_model_spec("vit_tiny_patch16_224")
    imagenet_head = keras_vit.create_model("vit_tiny_patch16_224", **{**spec.tiny, "num_classes": 1000})
    args = argparse.Namespace(model="vit_tiny_patch16_224", weights="augreg_in21k_ft_in1k", data=None)
    assert cli._class_names(imagenet_head, args) == md.imagenet_class_names()
