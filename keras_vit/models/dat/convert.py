"""Key map from the official DAT (CVPR 2022) checkpoints.

The official stage keeps its LayerNorms in one list (``layer_norms.{2d}`` before attention
``d``, ``layer_norms.{2d+1}`` before MLP ``d``); ours sit in block ``d`` as ``norm1``/``norm2``,
so the keys are renamed first. Deformable attention projects with 1x1 convolutions, local
attention with Linear layers: both become Dense kernels. ``relative_position_index`` and
``attn_mask`` are buffers the model computes itself.
"""
import re

import numpy as np

from ...layers.resample import resample_grid
from ...weights.convert import Layout, Rule, conv2d, depthwise_conv2d, layout_converter
from ...weights.resampling import _owner
from .model import DeformableAttention


def dense(x):
    """Linear (out, in) or 1x1 Conv2d (out, in, 1, 1) -> Dense (in, out)."""
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[2:] == (1, 1):
        x = x[:, :, 0, 0]
    if x.ndim != 2:
        raise ValueError(f"a Linear or 1x1 Conv2d weight needs (out, in[, 1, 1]), got shape {x.shape}")
    return x.T


def _prepare(state):
    out = {}
    for key, value in state.items():
        m = re.match(r"stages\.(\d+)\.layer_norms\.(\d+)\.norm\.(weight|bias)$", key)
        if m:
            stage, j, leaf = int(m.group(1)), int(m.group(2)), m.group(3)
            key = f"stages.{stage}.blocks.{j // 2}.norm{1 + j % 2}.{leaf}"
        out[key] = value
    return out


def _ln(src, dst):
    return [Rule(src + r"\.weight", dst + "/gamma"), Rule(src + r"\.bias", dst + "/beta")]


_A, _AD = r"stages\.(\d+)\.attns\.(\d+)\.", "stages_{0}_{1}/attn/"
OFFICIAL_RULES = [
    Rule(r"patch_proj\.0\.weight", "patch_proj_0/kernel", conv2d),
    Rule(r"patch_proj\.0\.bias", "patch_proj_0/bias"),
    *_ln(r"patch_proj\.1\.norm", "patch_proj_1"),
    *_ln(r"stages\.(\d+)\.blocks\.(\d+)\.(norm[12])", "stages_{0}_{1}/{2}"),
    Rule(r"stages\.(\d+)\.mlps\.(\d+)\.chunk\.linear([12])\.weight", "stages_{0}_{1}/mlp/fc{2}/kernel", dense),
    Rule(r"stages\.(\d+)\.mlps\.(\d+)\.chunk\.linear([12])\.bias", "stages_{0}_{1}/mlp/fc{2}/bias"),
    Rule(_A + r"relative_position_bias_table", _AD + "rpb/relative_position_bias_table"),
    Rule(_A + r"proj_qkv\.weight", _AD + "qkv/kernel", dense),
    Rule(_A + r"proj_qkv\.bias", _AD + "qkv/bias"),
    Rule(_A + r"proj_(q|k|v)\.weight", _AD + "{2}/kernel", dense),
    Rule(_A + r"proj_(q|k|v)\.bias", _AD + "{2}/bias"),
    Rule(_A + r"proj_out\.weight", _AD + "proj/kernel", dense),
    Rule(_A + r"proj_out\.bias", _AD + "proj/bias"),
    Rule(_A + r"rpe_table", _AD + "rpe_table"),
    Rule(_A + r"conv_offset\.0\.weight", _AD + "conv_offset_0/kernel", depthwise_conv2d),
    Rule(_A + r"conv_offset\.0\.bias", _AD + "conv_offset_0/bias"),
    *_ln(_A + r"conv_offset\.1\.norm", _AD + "conv_offset_1"),
    Rule(_A + r"conv_offset\.3\.weight", _AD + "conv_offset_3/kernel", dense),
    Rule(r"down_projs\.(\d+)\.0\.weight", "down_projs_{0}_0/kernel", conv2d),
    *_ln(r"down_projs\.(\d+)\.1\.norm", "down_projs_{0}_1"),
    *_ln(r"cls_norm\.norm", "cls_norm"),
    Rule(r"cls_head\.weight", "head/kernel", dense),
    Rule(r"cls_head\.bias", "head/bias"),
]

LAYOUTS = [
    Layout("official", lambda keys: any(k.endswith("patch_proj.0.weight") for k in keys), OFFICIAL_RULES,
           strip=("module.", "model."), prepare=_prepare,
           ignore=(r".*relative_position_index", r".*attn_mask")),
]

convert, detect_layout = layout_converter("DAT", LAYOUTS)


def _rpe_tables(path, array, target_shape, model):
    """Resizes a ``(heads, 2H-1, 2W-1)`` table to another map as the official ``load_pretrained``
    does (``F.interpolate(mode="bicubic")``, align_corners=False)."""
    if _owner(model, path, DeformableAttention) is None or not path.endswith("rpe_table") or array.ndim != 3:
        return None
    if len(target_shape) != 3 or array.shape[0] != target_shape[0]:
        return None
    return resample_grid(np.transpose(array, (1, 2, 0)), target_shape[1:], "bicubic").transpose(2, 0, 1)


def resample(layout):
    """The load-time hook: deformable position tables follow the input size."""
    return _rpe_tables
