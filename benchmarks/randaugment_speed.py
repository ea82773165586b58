"""Images/s of our TensorFlow RandAugment against timm's Pillow RandAugment ('rand-m9-mstd0.5-inc1').

* **ours**: ``training.randaugment.RandAugment()`` in a ``tf.data`` map over 256 random-looking
  224x224 uint8 images (smooth gradients plus noise), batched by 64; once with 2 parallel calls
  (the machine's cores) and once on one core (``num_parallel_calls=1``, a private one-thread
  pool, intra-op parallelism 1), which is the per-core figure;
* **timm**: ``rand_augment_transform('rand-m9-mstd0.5-inc1', {'img_mean': (124, 116, 104),
  'translate_pct': 0.45})`` applied to the same images as PIL images in a plain loop, one process
  (one core; Pillow's operations are single-threaded), with 0-bit posterize allowed (see
  ``_posterize_zero_bits_ok``);
* per operation, ms/img of each on one core, each operation always applied at magnitude 9 (ours
  through ``apply_op`` in the same one-core ``tf.data`` map; an identity map gives the pipeline's
  own cost, which is included in every row of ours).

Each figure is the best of ``--repeats`` timed passes (after a warm-up pass). Writes
``docs/benchmarks/randaugment_speed.md``.

Usage::

    python benchmarks/randaugment_speed.py [--images 256] [--repeats 3] [--no-per-op] [--results-dir DIR]
"""
import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import timm.data.auto_augment as timm_aa  # noqa: E402  (torch/timm before TensorFlow: see tests/conftest.py)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

from training import randaugment  # noqa: E402

FILL = (124, 116, 104)
HPARAMS = {"img_mean": FILL, "translate_pct": 0.45}


def make_images(count, size=224, seed=0):
    """``count`` uint8 (size, size, 3) images: smooth gradients and waves plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(count):
        a, b, c = rng.uniform(0.5, 3.0, 3)
        base = np.stack([x * 180 * a, y * 160 * b, (x + y) * 90 * c], -1) + rng.uniform(0, 60, 3)
        waves = 30 * np.sin(x[..., None] * rng.uniform(5, 30) + y[..., None] * rng.uniform(5, 30)
                            + np.arange(3))
        images.append(np.clip(base % 256 + waves + rng.normal(0, 10, base.shape), 0, 255))
    return np.stack(images).astype(np.uint8)


def _posterize_zero_bits_ok(image, bits, **kwargs):
    """timm's posterize, with 0 bits giving black (Pillow 13's ImageOps.posterize refuses 0 bits).

    timm's PosterizeIncreasing keeps 0 bits at magnitude 10, which 'rand-m9-mstd0.5' reaches in
    about 2% of its applications; unpatched, timm 1.0.31 with Pillow 13 raises there.
    """
    if bits < 1:
        return image.point([0] * 256 * len(image.getbands()))
    return timm_aa.posterize(image, bits, **kwargs)


def timm_transform():
    transform = timm_aa.rand_augment_transform("rand-m9-mstd0.5-inc1", dict(HPARAMS))
    for op in transform.ops:
        if op.aug_fn is timm_aa.posterize:
            op.aug_fn = _posterize_zero_bits_ok
    return transform


def _one_core(ds):
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    return ds.with_options(options)


def ours_rate(images, fn, parallel, repeats, batch=64):
    """Best images/s of ``fn`` over ``repeats`` passes over ``images`` in one ``tf.data`` iterator.

    One iterator for all passes (as in training, where it lives for an epoch or more): building
    one instantiates and optimizes the map function, which takes a second or so; a warm-up pass
    comes first. Seeds are (index in the stream, 0).
    """
    per_pass = len(images) // batch
    ds = tf.data.Dataset.from_tensor_slices(images).repeat().enumerate().map(
        lambda i, image: fn(image, tf.stack([i, tf.constant(0, tf.int64)])),
        num_parallel_calls=parallel).batch(batch)
    if parallel == 1:
        ds = _one_core(ds)
    iterator = iter(ds)
    best = 0.0
    for i in range(repeats + 1):
        start = time.perf_counter()
        for _ in range(per_pass):
            next(iterator)
        rate = per_pass * batch / (time.perf_counter() - start)
        if i:
            best = max(best, rate)
    return best


def timm_rate(pil_images, fn, repeats):
    best = 0.0
    for i in range(repeats + 1):
        start = time.perf_counter()
        for image in pil_images:
            fn(image)
        rate = len(pil_images) / (time.perf_counter() - start)
        if i:
            best = max(best, rate)
    return best


def main(argv=None):
    from keras_vit.utils import benchmark

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-per-op", action="store_true", help="skip the per-operation table")
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    args = parser.parse_args(argv)

    stamp = benchmark.run_stamp("benchmarks/randaugment_speed.py")
    images = make_images(args.images)
    pil_images = [Image.fromarray(image) for image in images]
    augment = randaugment.RandAugment()

    rows = [
        ("ours, tf.data, 2 parallel calls", ours_rate(images, augment, 2, args.repeats), 2),
        ("ours, tf.data, 1 core", ours_rate(images, augment, 1, args.repeats), 1),
        ("timm (Pillow), plain loop, 1 process", timm_rate(pil_images, timm_transform(), args.repeats), 1),
    ]
    per_core = rows[1][1] / rows[2][1]
    body = [f"RandAugment `rand-m9-mstd0.5-inc1` on {args.images} images of 224x224, {os.cpu_count()} CPU cores; "
            f"best of {args.repeats} timed passes each. **Per core, ours is {per_core:.2f}x timm.**",
            benchmark.markdown_table(("pipeline", "images/s", "images/s per core"),
                                     [(name, f"{rate:.0f}", f"{rate / cores:.0f}") for name, rate, cores in rows])]
    if not args.no_per_op:
        identity = ours_rate(images, lambda image, seed: tf.identity(image), 1, args.repeats)
        op_rows = [("(identity map)", "", f"{1e3 / identity:.3f}", "")]
        kwargs = dict(fillcolor=FILL, resample=Image.BILINEAR)
        for name in randaugment.RAND_INCREASING_OPS:
            arg = float(randaugment.level_to_arg(name, 9.0, False, 0.45).numpy())
            if "Posterize" in name or "Solarize" in name:
                arg = int(arg)  # timm's level functions give ints there
            ours = ours_rate(images, lambda image, seed, name=name, arg=arg: randaugment.apply_op(
                name, image, arg, FILL), 1, args.repeats)
            op = timm_aa.NAME_TO_OP[name]
            if name in ("AutoContrast", "Equalize", "Invert"):
                theirs = timm_rate(pil_images, lambda image, op=op: op(image, **kwargs), args.repeats)
            else:
                theirs = timm_rate(pil_images, lambda image, op=op, arg=arg: op(image, arg, **kwargs),
                                   args.repeats)
            op_rows.append((name, f"{arg:g}", f"{1e3 / ours:.3f}", f"{1e3 / theirs:.3f}"))
        body += ["## Per operation",
                 "Always applied, magnitude 9, one core, ms per image; ours includes the `tf.data` map's own cost "
                 "(the identity row).",
                 benchmark.markdown_table(("operation", "argument", "ours ms/img", "timm ms/img"), op_rows)]
    path = benchmark.write_result("randaugment_speed", "RandAugment: ours (TensorFlow, XLA) against timm (Pillow)",
                                  stamp, "\n\n".join(body), folder=args.results_dir)
    print(open(path, encoding="utf-8").read())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
