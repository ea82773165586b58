"""DAT variants: the official CVPR 2022 configs (LeapLabTHU/DAT at tag CVPR2022,
``configs/dat_{tiny,small,base}.yaml``).

The official ImageNet-1k checkpoints (official key layout, ``{"model": state_dict}``) are
published on Google Drive and on Tsinghua Cloud; the tags point at the Tsinghua Cloud files
(Seafile share links with ``?dl=1``, the direct download), as the official README lists them.
"""
from ...weights.tags import WeightsTag
from .training import GROUP_MATCHER, NO_WEIGHT_DECAY  # noqa: F401  (registered with the family)
PAPER = "Xia et al., Vision Transformer with Deformable Attention, CVPR 2022"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

_COMMON = dict(
    patch_size=4, window_size=7, use_pes=(False, False, True, True), strides=(-1, -1, 1, 1),
    offset_range_factor=(-1, -1, 2, 2), expansion=4, input_size=(224, 224),
)
_DEEP = (("L", "S"), ("L", "S"), ("L", "D") * 9, ("L", "D"))
VARIANTS = {
    "dat_tiny": dict(_COMMON, dims=(96, 192, 384, 768), depths=(2, 2, 6, 2), heads=(3, 6, 12, 24), groups=(-1, -1, 3, 6),
                     stage_spec=(("L", "S"), ("L", "S"), ("L", "D") * 3, ("L", "D"))),
    "dat_small": dict(_COMMON, dims=(96, 192, 384, 768), depths=(2, 2, 18, 2), heads=(3, 6, 12, 24), groups=(-1, -1, 3, 6),
                      stage_spec=_DEEP),
    "dat_base": dict(_COMMON, dims=(128, 256, 512, 1024), depths=(2, 2, 18, 2), heads=(4, 8, 16, 32), groups=(-1, -1, 4, 8),
                     stage_spec=_DEEP),
}

# Exact counts of our builder with a 1000-class head. dat_tiny equals the official code's
# count (tests/fixtures/official/full_models_dat.json); dat_small and dat_base equal the official
# code's too (counted with models/dat.py at tag CVPR2022 (CPU, random init) while
# writing this family) and round to the paper's published 50M and 88M (Table 1).
PARAMETERS = {
    "dat_tiny": 28_319_138,
    "dat_small": 49_700_402,
    "dat_base": 87_881_632,
}

REFERENCES = {
    "dat_tiny": ("official", "full_models_dat.json", "dat_tiny"),
    "dat_small": ("published", "50", "DAT paper (Xia et al., CVPR 2022), Table 1: DAT-S 50M"),
    "dat_base": ("published", "88", "DAT paper (Xia et al., CVPR 2022), Table 1: DAT-B 88M"),
}

# 224 keeps the 56/28/14/7 maps; narrower and shallower, all three attention kinds.
TINY = dict(
    input_shape=(224, 224, 3), dims=(16, 32, 64, 128), depths=(2, 2, 2, 2), heads=(1, 2, 4, 8), groups=(-1, -1, 2, 4),
    stage_spec=(("L", "S"), ("L", "S"), ("L", "D"), ("L", "D")), num_classes=5,
)

# Tsinghua Cloud share ids from the official README at tag CVPR2022.
_TSINGHUA = {
    "dat_tiny": "1367349deefc48efa650",
    "dat_small": "f04b18081e3e4606adb7",
    "dat_base": "a8d2a9645d454120b635",
}
WEIGHTS = {
    name: {
        "in1k": WeightsTag(
            "in1k", f"https://cloud.tsinghua.edu.cn/f/{share}/?dl=1", "official", license="apache-2.0",
            input_size=(224, 224), mean=MEAN, std=STD, file_name=f"{name}_in1k_224.pth",
        )
    }
    for name, share in _TSINGHUA.items()
}
DEFAULT_WEIGHTS = {name: "in1k" for name in VARIANTS}
