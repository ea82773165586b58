"""The README's dense-prediction example, run as written: keras-hub's DeepLabV3 head on a
keras_vit feature pyramid, a few steps of ``fit`` on synthetic masks."""
import numpy as np

import keras_vit
from tests.references import require


def test_keras_hub_deeplab_on_our_pyramid():
    keras_hub = require("keras_hub")
    import keras

    # Seeded: unseeded, the head's random start made 3 epochs on 8 images end above the
    # first epoch's loss in 1 of 6 full-suite runs.
    keras.utils.set_random_seed(0)
    # --- README example begins ---
    backbone = keras_vit.create_model("pvt_v2_b0", features_only=True, input_shape=(64, 64, 3))
    deeplab = keras_hub.models.DeepLabV3Backbone(
        image_encoder=backbone,
        low_level_feature_key="P2",
        spatial_pyramid_pooling_key="P4",
        upsampling_size=4,
        dilation_rates=[6, 12, 18],
    )
    segmenter = keras_hub.models.DeepLabV3ImageSegmenter(backbone=deeplab, num_classes=3)
    segmenter.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # --- README example ends ---

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (8, 64, 64, 3)).astype("float32")
    # Masks the images determine: class = which third of the brightness range a pixel is in.
    masks = np.digitize(images.mean(-1), [85, 170])[..., None].astype("int32")
    history = segmenter.fit(images, masks, epochs=3, batch_size=4, verbose=0)
    out = segmenter.predict(images[:2], verbose=0)
    assert out.shape == (2, 64, 64, 3)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # The encoder inside the head is ours, with its weights.
    names = {w.path for w in segmenter.weights}
    assert any(n.endswith("attn/kv/kernel") for n in names), sorted(names)[:20]
