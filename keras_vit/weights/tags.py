"""Pretrained-weights tags: where a checkpoint comes from and how its inputs were normalized."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WeightsTag:
    """One published checkpoint of a model.

    Attributes:
        tag: short name users pass as ``weights=`` (timm's pretrained tag where one exists).
        url: HTTPS address of the publisher's file.
        source: checkpoint layout and publisher: ``"timm"``, ``"google"`` or ``"transformers"``.
        sha256: expected hex digest, or ``None`` where it is not known (then the first
            download's digest is recorded beside the cached file and checked afterwards).
        license: license of the weights.
        input_size: (height, width) the weights were trained at.
        mean, std: input normalization in [0, 1] pixel units.
        num_classes: classes of the checkpoint's head (0: no head).
        channel_order: ``"rgb"`` or ``"bgr"`` input order the network expects.
        config: constructor arguments these weights need (e.g. a different attention scale).
        file_name: name of the cached file.
    """

    tag: str
    url: str
    source: str
    sha256: str = None
    license: str = "apache-2.0"
    input_size: tuple = (224, 224)
    mean: tuple = (0.5, 0.5, 0.5)
    std: tuple = (0.5, 0.5, 0.5)
    num_classes: int = 1000
    channel_order: str = "rgb"
    config: dict = field(default_factory=dict)
    file_name: str = None

    def cache_name(self, model_name):
        if self.file_name:
            return self.file_name
        base = self.url.rsplit("/", 1)[-1] or "weights"
        return f"{model_name}.{self.tag}.{base}"
