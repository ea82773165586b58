"""keras-vision-transformers: Vision Transformers for Keras 3, from pretrained weights to the phone.

The distribution is ``keras-vision-transformers`` (the name ``keras-vit`` on PyPI belongs to an
unrelated project); the import package is ``keras_vit`` and the command is ``keras-vit``.

The repository keeps three top-level source folders (``keras_vit/``, ``training/``,
``tflite/``) but installs a single import package: ``training/`` becomes
``keras_vit.training`` and ``tflite/`` becomes ``keras_vit.tflite``. This avoids installing
top-level modules named ``training`` or ``tflite`` (the latter already exists on PyPI).
"""
import re

from setuptools import find_packages, setup


def _version():
    """The one version number, ``keras_vit.__version__``, read without importing the package."""
    with open("keras_vit/__init__.py", encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


setup(
    name="keras-vision-transformers",
    version=_version(),
    description="Vision Transformers for Keras 3: pretrained weights, tf.distribute training, TFLite export",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=(
        ["keras_vit"]
        + [f"keras_vit.{p}" for p in find_packages("keras_vit")]
        + ["keras_vit.training"]
        + [f"keras_vit.training.{p}" for p in find_packages("training")]
        + ["keras_vit.tflite"]
        + [f"keras_vit.tflite.{p}" for p in find_packages("tflite")]
    ),
    package_dir={
        "keras_vit": "keras_vit",
        "keras_vit.training": "training",
        "keras_vit.tflite": "tflite",
    },
    package_data={"keras_vit": ["model_index.json"], "keras_vit.training": ["recipes/*.json"]},
    install_requires=[
        "keras>=3.8",
        "tensorflow>=2.16",
        "numpy",
        "safetensors",
        "tqdm",
        # TFLite metadata (keras_vit.tflite.metadata) is written and read with it.
        "flatbuffers",
    ],
    extras_require={
        # The embedded `digits` dataset, plots, tfds datasets and the LiteRT interpreter.
        # importlib_resources: tensorflow-datasets imports it to prepare datasets (mnist...)
        # but does not declare it.
        "train": ["scikit-learn", "matplotlib", "tensorflow-datasets", "importlib_resources",
                  "tensorboard"],
        "tflite": ["ai-edge-litert"],
        # create_model("hf://user/repo") and sharing a run on the Hugging Face Hub.
        "hub": ["huggingface_hub"],
        # CUDA machines: TensorFlow with its CUDA libraries; JAX on NVIDIA GPUs or on TPUs
        # (`keras-vit train --backend jax`). Untested on real accelerators so far (docs/backends.md).
        "gpu": ["tensorflow[and-cuda]"],
        "jax-cuda": ["jax[cuda12]"],
        "jax-tpu": ["jax[tpu]"],
        "dev": [
            # Below 9.2: pytest 9.2 keeps node ids where pytest-xdist 3.8's `--dist loadgroup`
            # cannot tag them, so `xdist_group` stops grouping (the int8 tests' trained models
            # were then made twice). Lift this when a pytest-xdist release supports 9.2.
            "pytest<9.2",
            # `python -m pytest` runs on both cores of the CI machine (pytest.ini: -n 2).
            "pytest-xdist",
            # pytest.ini: a per-test time limit, so that a hang fails one test, not the CI run.
            "pytest-timeout",
            "scikit-learn",
            "matplotlib",
            "tensorflow-datasets",
            "importlib_resources",
            "tensorboard",
            "ai-edge-litert",
            # The example notebooks run in CI (tests/test_notebooks.py).
            "nbclient",
            "nbformat",
            "ipykernel",
            "torch",
            "timm",
            "transformers",
            # The README's segmentation example: keras-hub's DeepLabV3 head on our pyramids.
            "keras-hub",
            # The models and the training loop are tested on JAX (and PyTorch, above) too.
            "jax>=0.10",
            # The real client phone apps use: every export is loaded by MediaPipe Tasks in CI.
            "mediapipe",
            # create_model("hf://...") is tested against a prepared local Hub cache.
            "huggingface_hub",
            # The documentation site, built with `mkdocs build --strict` in CI.
            "mkdocs-material",
            "mkdocstrings[python]",
            # CI builds the sdist and the wheel and installs the wheel in a fresh venv.
            "build",
        ],
        "docs": ["mkdocs-material", "mkdocstrings[python]"],
    },
    entry_points={"console_scripts": ["keras-vit=keras_vit.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
