"""Images/s of our training input pipeline against timm's, on an ImageNet-style folder of JPEGs.

On a CPU-bound host the input pipeline decides the training speed. This script generates an
ImageNet-style folder (``<root>/<class>/<image>.jpg``: 1000 class folders, a bounded number of
real JPEGs of varied sizes, smooth random content plus noise so that they compress like
photographs) under a temporary folder or ``--data``, and times, interleaved in rounds:

* **ours**: what ``keras-vit train`` builds for that folder with a ``<family>_imagenet`` recipe
  (default ``deit_imagenet``): ``load_dataset`` (Pillow decode and resize in
  ``keras_vit.data.prepare_image``), ``make_pipeline`` with ``Augmenter.from_recipe`` (flip,
  RandAugment, RandomErasing, MixUp/CutMix), ``tf.data`` on all cores;
* **timm**: ``timm.data.create_dataset`` + ``create_loader`` (torch ``DataLoader``, one worker
  per core) with the same augmentations as timm spells them (RandomResizedCrop, flip,
  ``rand-m9-mstd0.5-inc1``, RandomErasing ``re_prob``/pixel mode) and ``timm.data.Mixup`` on
  each batch in the main process, as timm's ``train.py`` does on a CPU;
* each one stage by stage (decode only; + crop/resize; + flip and RandAugment; + erasing and
  MixUp/CutMix) to show where the time goes;
* ``tf.data`` variants of ours: ``deterministic=False``, a private thread pool, Keras's stock
  RandAugment (before this script's change to ``training/augment.py``).

Every candidate is a live iterator over an endless stream of batches. A round takes each
candidate in turn (the first one rotates): it waits until the process and its workers are
idle (the candidate timed before refills its prefetch buffers alone, at most ``--gap``
seconds), draws untimed what its buffers hold (until a batch takes a good part of the time
it takes to make one), then times batches for ``--block-seconds``. images/s is one
value per round; ratios are taken within a round, then the median over rounds. Warm-up (the
first batches of every candidate: worker start, shuffle buffer, autotuning) is not timed.
The harness's ``time_interleaved`` is not used because of the prefetch buffers: a pipeline
left idle keeps working until its buffers are full, and would charge that work to the next
candidate's timed calls.

Repeated augmentation is set to 1 for both: our ``make_pipeline`` repeats images after
decoding (3 copies per decode), timm's ``RepeatAugSampler`` decodes each copy, and it exists
only for distributed runs.

Usage::

    python benchmarks/input_pipeline.py [--data /tmp/imagenet_like] [--images 4000] [--batch 64]
        [--rounds 5] [--block-seconds 5] [--recipe deit_imagenet] [--results-dir docs/benchmarks]
"""
import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

#: Stages of the breakdown, in order; each adds work to the one before.
STAGES = ("decode", "crop/resize", "flip + RandAugment", "erasing + MixUp/CutMix")


# ----------------------------------------------------------------------------- the folder


def make_image_folder(root, num_classes=1000, num_images=4000, min_side=300, max_side=600, seed=0,
                      quality=90):
    """Write an ImageNet-style folder of JPEGs: ``root/class_XXXX/img_YYYY.jpg``.

    Images have random width and height in ``[min_side, max_side]``; their content is a
    bicubically upsampled random field (smooth, like a photograph's large shapes) plus mild
    noise (texture), so that they compress and decode like photographs, not like flat colors
    or pure noise. ``num_images`` is spread over the classes, at least one each. An existing
    folder with the same number of JPEGs is reused. Returns ``root``.
    """
    from PIL import Image

    if num_classes < 2 or num_images < num_classes:
        raise ValueError(f"need at least 2 classes and one image per class, got num_classes={num_classes}, "
                         f"num_images={num_images}")
    if not min_side <= max_side:
        raise ValueError(f"min_side must be at most max_side, got {min_side} > {max_side}")
    existing = sum(len(files) for _, _, files in os.walk(root)) if os.path.isdir(root) else 0
    if existing == num_images:
        return root
    rng = np.random.default_rng(seed)
    for i in range(num_images):
        folder = os.path.join(root, f"class_{i % num_classes:04d}")
        os.makedirs(folder, exist_ok=True)
        width, height = (int(v) for v in rng.integers(min_side, max_side + 1, 2))
        cells = rng.integers(4, 12)
        field = rng.uniform(0, 255, (cells, cells, 3)).astype(np.uint8)
        image = np.asarray(Image.fromarray(field).resize((width, height), Image.BICUBIC), dtype=np.float32)
        image += rng.normal(0, 12, image.shape)
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(
            os.path.join(folder, f"img_{i // num_classes:04d}.jpg"), quality=quality)
    return root


# ----------------------------------------------------------------------------- timm


def _timm_posterize_zero_bits():
    """Let timm's posterize keep 0 bits again, as it did before Pillow 13.

    ``rand-...-inc1`` maps the top magnitude to 0 bits kept (a black image, Pillow's result
    up to version 12); Pillow 13 raises instead, which stops the loader's workers. timm looks
    its operations up in ``NAME_TO_OP``, so the entries are replaced there.
    """
    from PIL import Image
    from timm.data import auto_augment

    original = auto_augment.posterize

    def posterize(img, bits_to_keep, **kwargs):
        if bits_to_keep < 1:
            return Image.new(img.mode, img.size)
        return original(img, bits_to_keep, **kwargs)

    for name in ("Posterize", "PosterizeIncreasing", "PosterizeOriginal"):
        auto_augment.NAME_TO_OP[name] = posterize


def timm_pipelines(root, recipe, batch_size, workers, stages=STAGES):
    """``{stage: endless iterator of batches}`` through timm's loader; the last stage is the full one.

    Built before TensorFlow is imported: the workers are forked from this process, and a fork
    of a process running TensorFlow's thread pools can hang.
    """
    import torch
    from timm.data import Mixup, create_dataset, create_loader

    _timm_posterize_zero_bits()
    size = recipe.image_size
    magnitude = int(round(recipe.randaugment_magnitude * 10))
    common = dict(input_size=(3, size, size), batch_size=batch_size, is_training=True, use_prefetcher=False,
                  num_workers=workers, interpolation="bilinear", device=torch.device("cpu"),
                  persistent_workers=workers > 0, use_multi_epochs_loader=True)
    augmented = dict(common, auto_augment=f"rand-m{magnitude}-mstd0.5-inc1" if recipe.randaugment_ops else None,
                     re_prob=recipe.random_erasing, re_mode="pixel", hflip=0.5 if recipe.hflip else 0.0)
    mixup = Mixup(mixup_alpha=recipe.mixup_alpha, cutmix_alpha=recipe.cutmix_alpha, prob=recipe.mix_prob,
                  switch_prob=recipe.mix_switch_prob, mode="batch", label_smoothing=recipe.label_smoothing,
                  num_classes=1000)

    def endless(loader, mix=False):
        for x, y in itertools.chain.from_iterable(itertools.repeat(loader)):
            yield mixup(x, y) if mix else (x, y)

    def decode_only(image):
        # The dataset's reader has decoded the file (Image.convert("RGB")); hand over the pixels.
        return torch.from_numpy(np.asarray(image)[:8, :8].copy())

    made = {}
    for stage in stages:
        if stage == "decode":
            dataset = create_dataset("", root=root, is_training=True, transform=decode_only)
            loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                                                 persistent_workers=workers > 0, drop_last=True, shuffle=True)
            made[stage] = endless(loader)
        elif stage == "crop/resize":
            made[stage] = endless(create_loader(create_dataset("", root=root, is_training=True),
                                                **dict(common, hflip=0.0, color_jitter=None)))
        elif stage == "flip + RandAugment":
            made[stage] = endless(create_loader(create_dataset("", root=root, is_training=True),
                                                **dict(augmented, re_prob=0.0)))
        elif stage == "erasing + MixUp/CutMix":
            made[stage] = endless(create_loader(create_dataset("", root=root, is_training=True), **augmented),
                                  mix=True)
        else:
            raise ValueError(f"unknown stage {stage!r}; stages are {STAGES}")
    return made


# ----------------------------------------------------------------------------- ours


def our_recipe(name="deit_imagenet", **overrides):
    """The recipe ``name`` with repeated augmentation off (see the module docstring)."""
    from training.recipe import load_recipe

    return load_recipe(name, repeated_augmentation=1, **overrides)


def _options(deterministic=None, threads=None):
    import tensorflow as tf

    options = tf.data.Options()
    if deterministic is not None:
        options.deterministic = deterministic
    if threads:
        options.threading.private_threadpool_size = threads
    return options


def our_pipelines(root, recipe, batch_size, stages=STAGES, variants=(), threads=2):
    """``{label: endless iterator of batches}`` through our training pipeline.

    ``stages`` as :data:`STAGES` (the last one is what ``keras-vit train`` builds); ``variants``
    among ``"deterministic=False"``, ``"private threadpool"`` and ``"whole-image resize"`` (no
    RandomResizedCrop: ``load_dataset``'s decoded split, each image decoded and resized whole by
    Pillow, then shuffled; a buffer of 500 decoded images), each on the full pipeline.
    """
    import tensorflow as tf

    from training.augment import Augmenter
    from training.data import RandomResizedCrop, load_dataset, make_pipeline

    if recipe.crop_scale is None:
        raise ValueError("recipe has no crop_scale: the comparison with timm's RandomResizedCrop needs one")
    splits = load_dataset(root, recipe.image_size, val_fraction=0.0, test_fraction=0.2, seed=0)
    n = splits.num_classes
    bare = recipe.replace(random_erasing=0.0, mixup_alpha=0.0, cutmix_alpha=0.0)
    crop = RandomResizedCrop(recipe.image_size, recipe.crop_scale, recipe.crop_ratio)

    def pipeline(augment, options=None, whole=False):
        # The trainer's shuffle buffer of file names; 500 decoded images for the whole-image path.
        ds = make_pipeline(splits.train if whole else splits.train_encoded, n, batch_size, training=True,
                           augment=augment, crop=None if whole else crop, cache=False, seed=recipe.seed,
                           shuffle_buffer=500 if whole else 10000)
        return iter(ds.with_options(options) if options is not None else ds)

    made = {}
    for stage in stages:
        if stage == "decode":
            # The whole JPEG, decoded as RandomResizedCrop decodes a window of it (libjpeg, accurate DCT).
            def decode(path):
                image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")
                return image[:8, :8]

            ds = (splits.train_encoded.records.map(lambda path, label: path).shuffle(10000, seed=0).repeat()
                  .map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(tf.data.AUTOTUNE))
            made[stage] = iter(ds)
        elif stage == "crop/resize":
            made[stage] = pipeline(None)
        elif stage == "flip + RandAugment":
            made[stage] = pipeline(Augmenter.from_recipe(bare, n))
        elif stage == "erasing + MixUp/CutMix":
            made[stage] = pipeline(Augmenter.from_recipe(recipe, n))
        else:
            raise ValueError(f"unknown stage {stage!r}; stages are {STAGES}")
    for variant in variants:
        if variant == "deterministic=False":
            made[variant] = pipeline(Augmenter.from_recipe(recipe, n), _options(deterministic=False))
        elif variant == "private threadpool":
            made[variant] = pipeline(Augmenter.from_recipe(recipe, n), _options(threads=threads))
        elif variant == "whole-image resize":
            made[variant] = pipeline(Augmenter.from_recipe(recipe, n), whole=True)
        else:
            raise ValueError(f"unknown variant {variant!r}")
    return made


# ----------------------------------------------------------------------------- timing


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def wait_idle(max_seconds, interval=0.25, busy=0.1):
    """Wait until this process and its children (timm's workers) use under ``busy`` of one core
    over ``interval`` seconds, at most ``max_seconds``: a pipeline just timed refills its
    prefetch buffers, and that work must not land in the next one's timed batches. Without
    psutil, sleeps ``min(max_seconds, 3)``."""
    try:
        import psutil
    except ImportError:
        time.sleep(min(max_seconds, 3.0))
        return

    def cpu_seconds():
        total = 0.0
        me = psutil.Process()
        for proc in [me] + me.children(recursive=True):
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                pass
        return total

    start = time.perf_counter()
    before = cpu_seconds()
    while time.perf_counter() - start < max_seconds:
        time.sleep(interval)
        now = cpu_seconds()
        if now - before < busy * interval:
            return
        before = now


def _draw_seconds(iterator):
    t0 = time.perf_counter()
    next(iterator)
    return time.perf_counter() - t0


def time_rounds(iterators, batch_size, rounds=5, block_seconds=5.0, settle=60, gap=10.0, warmup=10, min_settle=4,
                log=print):
    """``{label: [images/s, one per round]}`` and the load average before each round.

    ``warmup`` batches of each are drawn untimed before the first round; the median time of
    the second half of them is that pipeline's time to make a batch. Each round visits every
    iterator in turn (the first rotates): wait until the process and its workers are idle (at
    most ``gap`` seconds, :func:`wait_idle`); draw untimed what the prefetch buffers hold:
    until a draw takes over 30% of the time to make a batch, at least ``min_settle`` draws
    (timm's buffers: 2 batches per worker) and at most ``settle`` (buffers that autotuning
    grew hold ten batches or more); then time whole batches until
    ``block_seconds`` have passed (at least two).
    """
    if rounds < 1 or block_seconds <= 0 or warmup < 2:
        raise ValueError(f"rounds must be at least 1, block_seconds positive and warmup at least 2, got "
                         f"{rounds}, {block_seconds}, {warmup}")
    labels = list(iterators)
    made_in = {}
    for label in labels:
        seconds = [_draw_seconds(iterators[label]) for _ in range(warmup)]
        made_in[label] = statistics.median(seconds[warmup // 2:])
        log(f"  warm-up {label}: {warmup} batches in {sum(seconds):.1f} s, {made_in[label] * 1e3:.0f} ms per batch "
            "at the end")
    result = {label: [] for label in labels}
    loads = []
    for i in range(rounds):
        loads.append(load_average())
        shift = i % len(labels)
        for label in labels[shift:] + labels[:shift]:
            if gap > 0:
                wait_idle(gap)
            for k in range(settle):
                # At least min_settle: a loaded host can stretch a buffered batch's MixUp (timm
                # mixes in the main process) past the threshold.
                if _draw_seconds(iterators[label]) > 0.3 * made_in[label] and k + 1 >= min_settle:
                    break
            t0 = time.perf_counter()
            count = 0
            while count < 2 or time.perf_counter() - t0 < block_seconds:
                next(iterators[label])
                count += 1
            result[label].append(count * batch_size / (time.perf_counter() - t0))
        log(f"  round {i + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in result.items()))
    return result, loads


def ratio(rounds_a, rounds_b):
    """Median over rounds of the per-round ratio a / b."""
    return statistics.median(a / b for a, b in zip(rounds_a, rounds_b))


# ----------------------------------------------------------------------------- the run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="folder for the generated images (default: a temporary one)")
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--recipe", default="deit_imagenet")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="timm's DataLoader workers (ours: tf.data on the cores)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block-seconds", type=float, default=5.0)
    parser.add_argument("--settle", type=int, default=60,
                        help="most untimed batches at the start of each block (what the buffers hold)")
    parser.add_argument("--gap", type=float, default=10.0,
                        help="longest wait for the workers to go idle before each block (seconds)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--no-breakdown", action="store_true", help="time the full pipelines only")
    parser.add_argument("--results-dir", default=None, help="where to write the result file (default docs/benchmarks)")
    args = parser.parse_args(argv)

    tmp = None if args.data else tempfile.TemporaryDirectory(prefix="imagenet_like_")
    root = args.data or tmp.name
    t0 = time.perf_counter()
    make_image_folder(root, num_classes=args.classes, num_images=args.images)
    sizes = [os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs]
    print(f"{len(sizes)} JPEGs in {root} ({sum(sizes) / 2**20:.0f} MiB, mean {np.mean(sizes) / 1024:.0f} KiB), "
          f"{time.perf_counter() - t0:.0f} s")

    # torch before anything that loads TensorFlow or JAX (reading a recipe does): the other
    # order crashes at torch's import here.
    import timm.data  # noqa: F401
    import torch  # noqa: F401

    from keras_vit.utils import benchmark

    recipe = our_recipe(args.recipe)
    stages = STAGES if not args.no_breakdown else STAGES[-1:]
    theirs = timm_pipelines(root, recipe, args.batch, args.workers, stages)
    # Start timm's workers (forks) now, before TensorFlow's thread pools exist.
    for it in theirs.values():
        next(it)

    import tensorflow as tf

    stamp = benchmark.run_stamp("benchmarks/input_pipeline.py")
    variants = ("deterministic=False", "private threadpool", "whole-image resize")
    ours = our_pipelines(root, recipe, args.batch, stages, variants=variants, threads=os.cpu_count())
    iterators = {f"timm: {k}": v for k, v in theirs.items()}
    iterators.update({f"ours: {k}": v for k, v in ours.items()})
    load_before = load_average()
    rounds, loads = time_rounds(iterators, args.batch, rounds=args.rounds, block_seconds=args.block_seconds,
                                settle=args.settle, gap=args.gap, warmup=args.warmup,
                                min_settle=2 * args.workers)
    load_after = load_average()
    full = STAGES[-1]
    timm_full = rounds[f"timm: {full}"]

    def row(label, against):
        median, low, high = benchmark.summarize(rounds[label])
        return [label.split(": ", 1)[1], f"{median:.0f}", f"{low:.0f}-{high:.0f}", f"{ratio(rounds[label], against):.2f}x"]

    main_rows = [["timm `create_loader` + `Mixup`"] + row(f"timm: {full}", timm_full)[1:],
                 ["ours (`keras-vit train`)"] + row(f"ours: {full}", timm_full)[1:]]
    main_rows += [[f"ours, {v}"] + row(f"ours: {v}", timm_full)[1:] for v in variants]
    ours_vs_timm = ratio(rounds[f"ours: {full}"], timm_full)
    breakdown = []
    for stage in stages:
        a, b = rounds[f"ours: {stage}"], rounds[f"timm: {stage}"]
        breakdown.append([stage, f"{statistics.median(a):.0f}", f"{statistics.median(b):.0f}", f"{ratio(a, b):.2f}x"])

    header = ("pipeline", "images/s (median)", "min-max over rounds", "vs timm (median of per-round ratios)")
    body = [
        f"Folder: {len(sizes)} generated JPEGs, {args.classes} class folders, sides 300-600 px, mean "
        f"{np.mean(sizes) / 1024:.0f} KiB; ours reads the train split of `load_dataset` (80%), timm all of them. "
        f"Recipe `{args.recipe}` ({recipe.image_size} px, RandAugment {recipe.randaugment_ops} ops magnitude "
        f"{recipe.randaugment_magnitude}, hflip {recipe.hflip}, RandomErasing {recipe.random_erasing}, MixUp "
        f"{recipe.mixup_alpha} / CutMix {recipe.cutmix_alpha}, switch {recipe.mix_switch_prob}), repeated "
        f"augmentation off for both; batch {args.batch}; timm with {args.workers} DataLoader workers, ours with "
        f"tf.data on {os.cpu_count()} cores (TensorFlow {tf.__version__}). {args.rounds} rounds of "
        f"{args.block_seconds:g} s per pipeline, interleaved, warm-up excluded; load average "
        f"{load_before:.1f} before the rounds, {load_after:.1f} after, "
        f"{min(loads):.1f}-{max(loads):.1f} at the start of each round."
        # The rounds load the cores themselves (timm's workers, tf.data's threads): only the load
        # before them says whether something else ran.
        + (f" The host was busy (load average above its {os.cpu_count()} cores before the rounds): absolute numbers are noisy, and "
           "under contention the scheduler shares the cores per thread, not per pipeline (timm: two workers and the "
           "main process; ours: tf.data's threads)." if load_before > os.cpu_count() else ""),
        f"**Ours is {ours_vs_timm:.2f}x timm** (median of per-round ratios): the goal of at least 1.0x is "
        + ("met." if ours_vs_timm >= 1.0 else f"missed by {100 * (1 - ours_vs_timm):.0f}%; see the stages below."),
        "## Full pipelines", benchmark.markdown_table(header, main_rows),
        "Ours: `make_pipeline` shuffles file names, decodes only the RandomResizedCrop window of each JPEG "
        "(`training/data.py`), then runs timm's augmentations written in TensorFlow operations "
        "(`training/randaugment.py`, `training/mixing.py`). Row *whole-image resize* is the pipeline without the "
        "crop, as `keras-vit train` runs with `crop_scale: null` (Pillow decodes and resizes each whole image, "
        "decoded images are shuffled): "
        f"{ratio(rounds['ours: whole-image resize'], rounds[f'ours: {full}']):.2f}x ours. The `tf.data` rows change "
        "one option of the full pipeline each (`make_pipeline` sets `deterministic=True`): "
        + "; ".join(f"{v} {ratio(rounds[f'ours: {v}'], rounds[f'ours: {full}']):.2f}x ours"
                    for v in ("deterministic=False", "private threadpool"))
        + ". `tf.data` service was not tried: it moves the pipeline to other machines, and this one has "
        f"{os.cpu_count()} cores for everything.",
    ]
    if len(stages) > 1:
        body += ["## Where the time goes",
                 "Each stage adds work to the one above; images/s of the pipeline up to that stage (decode: read "
                 "and decode the whole JPEG only, libjpeg in TensorFlow for ours, Pillow for timm; crop/resize: "
                 "RandomResizedCrop, ours decoding only the window, and for timm the conversion to a normalized "
                 "tensor; then flip and RandAugment; then RandomErasing, per image for both, and MixUp/CutMix, per "
                 "batch in `tf.data` for ours, in the main process for timm).",
                 benchmark.markdown_table(("stage", "ours images/s", "timm images/s", "ours vs timm"), breakdown)]
        # Each stage adds work: a later stage measured clearly faster than an earlier one is noise.
        for side in ("ours", "timm"):
            medians = [statistics.median(rounds[f"{side}: {stage}"]) for stage in stages]
            if any(later > 1.1 * earlier for earlier, later in zip(medians, medians[1:])):
                body.append(f"**Noisy run:** {side}'s stages are not in decreasing order of images/s although each "
                            "adds work; read this run's ratios as rough, and rerun on a quiet host (`--gap 60`).")
    body += ["## What still differs",
             "- Interpolation: bilinear for both here (RandomResizedCrop and the geometric RandAugment operations); "
             "DeiT trains with bicubic, which TensorFlow's projective transform does not have.",
             "- timm 1.0 under Pillow 13 fails on posterize with 0 bits kept; the script lets it keep 0 bits (a "
             "black image, as under Pillow 12), which is what ours does.",
             "- Ours emits float32 NHWC pixels in [0, 255] (the model normalizes); timm normalized float32 NCHW. "
             "RandomErasing's noise is therefore rounded and clipped to [0, 255] in ours.",
             "- Random numbers: ours are stateless, keyed by the seed and the image's place in the stream (the "
             "same run every time, resumable); timm's come from each worker's generator."]
    path = benchmark.write_result("input_pipeline", "Training input pipeline: ours against timm", stamp,
                                  "\n\n".join(body), folder=args.results_dir)
    print(open(path, encoding="utf-8").read())
    print(f"wrote {path}")
    if tmp is not None:
        tmp.cleanup()
    return rounds


if __name__ == "__main__":
    main()
    # The endless pipelines are still live (tf.data's prefetch threads, timm's workers) and keep
    # the interpreter from exiting on its own; everything is written by now.
    sys.stdout.flush()
    os._exit(0)
