"""Quiet command-line logs: TensorFlow's native log lines and known harmless warnings.

Used by every command (``keras-vit`` and ``python -m keras_vit.training.cli``): TensorFlow's
C++ logs (CUDA probing on CPU machines, tf.data end-of-sequence warnings, oneDNN notices) and
Python-side warnings known to be harmless are off unless ``--verbose`` is given (or
``KERAS_VIT_VERBOSE=1``). Only the standard library is imported here.
"""
import atexit
import os
import re
import sys
import threading
import warnings

# Python warnings that a normal run prints and that say nothing actionable to a user.
_HARMLESS_WARNINGS = (
    r".*`shuffle=True` was passed, but will be ignored.*",
    r".*The structure of `inputs` doesn't match the expected structure.*",
    r".*Your input ran out of data.*",
    r".*Skipping variable loading for optimizer.*",
    r".*Compiled the loaded model, but the compiled metrics.*",
    r".*tf\.lite\.Interpreter is deprecated.*",
)


# Lines that native code (TensorFlow, absl, the TFLite converter and interpreter) writes to
# stderr itself, whatever TF_CPP_MIN_LOG_LEVEL says (absl prints everything before it is
# initialised). Fatal (F) lines and everything else pass through.
_NATIVE_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./+-]+:\d+\] "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] "
    r"|To enable the following instructions: "
    r"|INFO: (Created|Initialized) TensorFlow Lite"
    r"|fully_quantize: \d+, inference_type: )")
_stderr_filter = None


def filter_native_stderr():
    """Drop native log lines (see ``_NATIVE_NOISE``) from file descriptor 2 for this process.

    fd 2 becomes a pipe read by a thread that forwards every other line to the real stderr
    (Python tracebacks and messages included); child processes inherit the filter. Undone
    at exit. Idempotent.
    """
    global _stderr_filter
    if _stderr_filter is not None:
        return
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except OSError:
        return

    def pump():
        pending = b""
        while True:
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            kept = [line for line in lines
                    if not _NATIVE_NOISE.match(line.decode("utf-8", "replace"))]
            if kept:
                os.write(real, b"\n".join(kept) + b"\n")
        if pending:
            os.write(real, pending)
        os.close(read_end)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore():
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(real, 2)  # closes the pipe's last write end: the pump sees the end
        thread.join(timeout=5)

    atexit.register(restore)
    _stderr_filter = thread


def wants_verbose_logs(argv):
    """True when the user asked for TensorFlow's own logs (``--verbose``, ``-v``, env)."""
    return (os.environ.get("KERAS_VIT_VERBOSE", "") not in ("", "0")
            or any(a in ("--verbose", "-v") or a.startswith("--verbose=") for a in argv))


def quiet_logs(verbose=False):
    """Silence TensorFlow's C++ and absl logs and known harmless warnings, before TF loads.

    Must run before ``import tensorflow``: the C++ log level is read once, at load time.
    An explicit ``TF_CPP_MIN_LOG_LEVEL`` in the environment is respected. Python exceptions
    are not affected, and failures still print their one-line error.
    """
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    for pattern in _HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].get_logger().setLevel("ERROR")
    else:
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
