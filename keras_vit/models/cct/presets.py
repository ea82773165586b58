"""CCT variants (official ``src/cct.py``: ``cct_{layers}_{kernel}x{conv layers}_{resolution}``)
and the checkpoints SHI-Labs published.

Names give the transformer depth, the tokenizer's kernel size and number of convolutions,
and the resolution. Every official variant uses a learnable position embedding (the ``*_sine``
constructors do not pass their choice on), so none is registered separately.
"""
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)

PAPER = "Hassani et al., Escaping the Big Data Paradigm with Compact Transformers, 2021 (arXiv:2104.05704)"

# Official cct_2 … cct_14: (depth, heads, mlp_ratio, embed_dim).
SIZES = {
    2: dict(depth=2, num_heads=2, mlp_ratio=1.0, embed_dim=128),
    4: dict(depth=4, num_heads=2, mlp_ratio=1.0, embed_dim=128),
    6: dict(depth=6, num_heads=4, mlp_ratio=2.0, embed_dim=256),
    7: dict(depth=7, num_heads=4, mlp_ratio=2.0, embed_dim=256),
    14: dict(depth=14, num_heads=6, mlp_ratio=3.0, embed_dim=384),
}
_NAMES = [(2, 3, 2, 32), (4, 3, 2, 32), (6, 3, 1, 32), (6, 3, 2, 32), (7, 3, 1, 32), (7, 3, 2, 32), (7, 7, 2, 224), (14, 7, 2, 224), (14, 7, 2, 384)]
VARIANTS = {
    f"cct_{n}_{k}x{c}_{res}": dict(SIZES[n], kernel_size=k, num_conv_layers=c, input_size=(res, res))
    for n, k, c, res in _NAMES
}

# Every variant's exact count with a 1000-class head (the registry-wide test checks the body
# against the official code's counts and the published ones, at their class counts).
PARAMETERS = {
    "cct_2_3x2_32": 411_433,
    "cct_4_3x2_32": 609_833,
    "cct_6_3x1_32": 3_488_233,
    "cct_6_3x2_32": 3_581_353,
    "cct_7_3x1_32": 4_014_569,
    "cct_7_3x2_32": 4_107_689,
    "cct_7_7x2_224": 4_804_521,
    "cct_14_7x2_224": 22_367_273,
    "cct_14_7x2_384": 22_513_193,
}

_EXAMPLES = "official examples/README.md (CIFAR-10 table, # Params)"
_README = "official README.md (ImageNet table, # Params)"
# Official counts, with the number of classes they were made with: the fixtures' full-size
# models, the published count, or (neither existing) the count of the official code run
# on PyTorch (``"counted"``).
REFERENCES = {
    "cct_2_3x2_32": ("published", "0.284", _EXAMPLES, 10),
    "cct_4_3x2_32": ("published", "0.482", _EXAMPLES, 10),
    # The published 3.168M leaves out this model's 65,536 position parameters (that row was a
    # sinusoid model); the official code at cd11f09 counts 3,233,803 with 10 classes.
    "cct_6_3x1_32": ("counted", 3_233_803, "official src/cct.py cct_6_3x1_32(num_classes=10) at cd11f09", 10),
    "cct_6_3x2_32": ("published", "3.327", _EXAMPLES, 10),
    "cct_7_3x1_32": ("official", "full_models_cct.json", "cct_7_3x1_32"),
    "cct_7_3x2_32": ("published", "3.853", _EXAMPLES, 10),
    # No count is published for the Flowers-102 model.
    "cct_7_7x2_224": ("counted", 4_573_735, "official src/cct.py cct_7_7x2_224(num_classes=102) at cd11f09", 102),
    "cct_14_7x2_224": ("official", "full_models_cct.json", "cct_14_7x2_224"),
    "cct_14_7x2_384": ("published", "22.51", _README, 1000),
}

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)  # official configs/datasets/cifar10.yml
CIFAR_STD = (0.2470, 0.2435, 0.2616)

TINY = dict(
    input_shape=(32, 32, 3), embed_dim=32, depth=2, num_heads=2, mlp_ratio=1.0, kernel_size=3, num_conv_layers=2,
    tokenizer_channels=8, num_classes=5,
)

_BASE = "https://shi-labs.com/projects/cct/checkpoints/"
_LICENSE = "apache-2.0"  # SHI-Labs/Compact-Transformers LICENSE
WEIGHTS = {
    "cct_7_3x1_32": {
        "cifar10_300ep": WeightsTag("cifar10_300ep", _BASE + "pretrained/cct_7_3x1_32_cifar10_300epochs.pth", "official",
                                    license=_LICENSE, input_size=(32, 32), mean=CIFAR_MEAN, std=CIFAR_STD, num_classes=10),
        "cifar100_300ep": WeightsTag("cifar100_300ep", _BASE + "pretrained/cct_7_3x1_32_cifar100_300epochs.pth", "official",
                                     license=_LICENSE, input_size=(32, 32), mean=CIFAR_MEAN, std=CIFAR_STD, num_classes=100),
    },
    "cct_14_7x2_224": {
        "in1k": WeightsTag("in1k", _BASE + "pretrained/cct_14_7x2_224_imagenet.pth", "official", license=_LICENSE,
                           input_size=(224, 224), mean=MEAN, std=STD),
    },
    "cct_14_7x2_384": {
        "in1k": WeightsTag("in1k", _BASE + "finetuned/cct_14_7x2_384_imagenet.pth", "official", license=_LICENSE,
                           input_size=(384, 384), mean=MEAN, std=STD),
        "flowers102": WeightsTag("flowers102", _BASE + "finetuned/cct_14_7x2_384_flowers102.pth", "official", license=_LICENSE,
                                 input_size=(384, 384), mean=MEAN, std=STD, num_classes=102),
    },
}
DEFAULT_WEIGHTS = {"cct_7_3x1_32": "cifar10_300ep", "cct_14_7x2_224": "in1k", "cct_14_7x2_384": "in1k"}
