"""Edge export: the HMMR predictor and the image encoder as LiteRT (``.tflite``) and ONNX files.

``python -m src.export --format litert|onnx`` (docs/serving.md, "Edge: LiteRT and ONNX"). Two
models, each with fixed shapes (edge runtimes plan their memory for one shape; ``T`` =
``window``, default 20, the window HMMR was trained on; ``N`` = ``batch``, default 1;
``S`` = ``img_size`` = 224, ``D`` = 2048, ``P`` = 2 past/future predictors, 0 = past -5,
1 = future +5):

``predictor``
    input ``phi`` (1, T, D) float32 ResNet features of one window -> temporal encoder ->
    regressors -> ``theta`` (1, T, 85) and ``theta_delta`` (1, T, P, 85). Thetas only: the body
    model (theta -> joints, vertices) stays on the client
    (:func:`src.networks.outputs.theta_to_body`).
``encoder``
    input ``images`` (N, S, S, 3) float32 crops in [-1, 1] -> ResNet-50 v2 -> ``phi`` (N, D).

Quantisation (LiteRT only): ``none`` (float32), ``float16`` (weights stored as float16,
dequantised at load; half the file) or ``dynamic`` (``tf.lite.Optimize.DEFAULT``: int8 weights,
activations quantised on the fly; a quarter of the file). ONNX is float32, converted by
``tf2onnx`` (the optional ``[onnx]`` extra).

Every export is checked against the Keras model on a seeded random input (:func:`check_export`):
the maximum absolute difference of each output, the output's scale (max abs of the Keras output)
and the median CPU latency of the exported file in its runtime (``tf.lite.Interpreter`` or
``onnxruntime`` when installed).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from src import constants
from src.networks.hmmr import HMMR

FORMATS = constants.EXPORT_FORMATS
FORMAT_SAVEDMODEL, FORMAT_LITERT, FORMAT_ONNX = FORMATS
EDGE_FORMATS = (FORMAT_LITERT, FORMAT_ONNX)
SUFFIXES = {FORMAT_LITERT: ".tflite", FORMAT_ONNX: ".onnx"}

QUANTIZATIONS = constants.EDGE_QUANTIZATIONS
QUANTIZE_NONE, QUANTIZE_FLOAT16, QUANTIZE_DYNAMIC = QUANTIZATIONS
# file-name tag of each quantisation
QUANTIZE_TAGS = {QUANTIZE_NONE: "float32", QUANTIZE_FLOAT16: "float16", QUANTIZE_DYNAMIC: "int8"}

PARTS = constants.EDGE_PARTS
PART_PREDICTOR, PART_ENCODER = PARTS
DEFAULT_WINDOW = constants.SEQUENCE_LENGTH  # T of the predictor
DEFAULT_BATCH = 1  # N of the encoder
# an exported file in its runtime: input array -> {output name: array}
Runner = Callable[[np.ndarray], dict[str, np.ndarray]]
SIGNATURE_KEY = "serving_default"  # the LiteRT signature runner's key
ONNX_OPSET = 17
TF2ONNX_CATCH_ERRORS = "TF2ONNX_CATCH_ERRORS"  # tf2onnx's environment flag
CHECK_SEED = 0
DEFAULT_LATENCY_RUNS = 5


@dataclasses.dataclass
class EdgeModel:
    """One model to export: a function of one named float32 input with fixed shape.

    Attributes:
        part: ``predictor`` or ``encoder``.
        input_name: the input's name (``phi`` or ``images``).
        input_shape: fixed shape, e.g. ``(1, 20, 2048)``.
        fn: ``fn(x) -> {output name: tensor}``, the Keras model on eager tensors or in a graph.
        sample: ``sample(rng) -> np.ndarray`` an input of ``input_shape`` for the checks.
    """

    part: str
    input_name: str
    input_shape: tuple[int, ...]
    fn: Callable[[tf.Tensor], dict[str, tf.Tensor]]
    sample: Callable[[np.random.Generator], np.ndarray]

    def spec(self) -> tf.TensorSpec:
        return tf.TensorSpec(self.input_shape, tf.float32, name=self.input_name)

    def traced(self) -> tf.types.experimental.GenericFunction:
        """The model as a ``tf.function`` with the fixed input signature."""
        return tf.function(self.fn, input_signature=[self.spec()], autograph=False)


def predictor_model(model: HMMR, window: int = DEFAULT_WINDOW) -> EdgeModel:
    """phi (1, T, D) -> theta (1, T, 85), theta_delta (1, T, P, 85); ``T`` = ``window``."""
    if window < 1:
        raise ValueError(f"window must be >= 1 frame, got {window}")
    phi_dim = int(model.config.phi_dim)

    def fn(phi: tf.Tensor) -> dict[str, tf.Tensor]:
        out = model(phi, training=False)
        return {"theta": out["theta"], "theta_delta": out["theta_delta"]}

    def sample(rng: np.random.Generator) -> np.ndarray:
        # ResNet features are post-ReLU means: non-negative, about unit scale
        return np.abs(rng.normal(size=(1, window, phi_dim))).astype(np.float32)

    return EdgeModel(PART_PREDICTOR, "phi", (1, window, phi_dim), fn, sample)


def encoder_model(resnet: keras.Model, batch: int = DEFAULT_BATCH) -> EdgeModel:
    """images (N, S, S, 3) in [-1, 1] -> phi (N, D); ``N`` = ``batch``."""
    if batch < 1:
        raise ValueError(f"batch must be >= 1 crop, got {batch}")
    size = int(resnet.input_shape[1])

    def fn(images: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"phi": resnet(images, training=False)}

    def sample(rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(-1.0, 1.0, (batch, size, size, 3)).astype(np.float32)

    return EdgeModel(PART_ENCODER, "images", (batch, size, size, 3), fn, sample)


# ------------------------------------------------------------------------------------------------
# Converters


def to_litert(edge: EdgeModel, quantize: str = QUANTIZE_NONE) -> bytes:
    """The ``.tflite`` flatbuffer of ``edge`` (one signature, :data:`SIGNATURE_KEY`).

    Converted from a SavedModel written to a temporary folder (``keras.export.ExportArchive``),
    which keeps the signature's input and output names.
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    archive = keras.export.ExportArchive()
    archive.add_endpoint(name=SIGNATURE_KEY, fn=edge.fn, input_signature=[edge.spec()])
    with tempfile.TemporaryDirectory(prefix="hmmr_litert_") as tmp:
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=[SIGNATURE_KEY])
        if quantize != QUANTIZE_NONE:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == QUANTIZE_FLOAT16:
            converter.target_spec.supported_types = [tf.float16]
        return converter.convert()


def to_onnx(edge: EdgeModel, opset: int = ONNX_OPSET) -> bytes:
    """The ONNX model of ``edge`` (``tf2onnx``; outputs keep their names).

    Raises:
        ImportError: tf2onnx is not installed (``pip install .[onnx]``).
    """
    try:
        import tf2onnx
    except ImportError as err:
        raise ImportError(
            "--format onnx needs tf2onnx: pip install 'hmmr-tf2[onnx]' (or pip install tf2onnx)"
        ) from err
    # By default tf2onnx deep-copies the whole graph, weights included, before each of its graph
    # optimisers so as to skip one that fails; without the copies a conversion needs far less
    # memory (a one-block predictor: 5.9 GB peak instead of over 8 GB) and a failing optimiser
    # fails the export. The flag is read when set, whatever its value; a user's setting is kept.
    saved = os.environ.get(TF2ONNX_CATCH_ERRORS)
    os.environ.setdefault(TF2ONNX_CATCH_ERRORS, "FALSE")
    try:
        proto, _ = tf2onnx.convert.from_function(
            edge.traced(), input_signature=[edge.spec()], opset=opset
        )
    finally:
        if saved is None:
            os.environ.pop(TF2ONNX_CATCH_ERRORS, None)
    return proto.SerializeToString()


# ------------------------------------------------------------------------------------------------
# Runtimes


def litert_runner(
    model: bytes | str | os.PathLike,
) -> Runner:
    """A callable ``x -> {output name: array}`` over a ``.tflite`` (path or bytes).

    Runs on ``ai_edge_litert`` when installed, else on ``tf.lite.Interpreter`` (XNNPACK on CPU).
    """
    source = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    try:  # the standalone LiteRT runtime when installed (not a dependency)
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(**source)
    except ImportError:
        with warnings.catch_warnings():
            # TF 2.21 still ships tf.lite.Interpreter but warns that it is deprecated in favour
            # of ai_edge_litert (docs/serving.md); the numbers are the same runtime's
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
            interpreter = tf.lite.Interpreter(**source)
    runner = interpreter.get_signature_runner(SIGNATURE_KEY)
    (input_name,) = runner.get_input_details()
    return lambda x: {k: np.asarray(v) for k, v in runner(**{input_name: x}).items()}


def onnx_runner(model: bytes | str | os.PathLike) -> Runner:
    """A callable ``x -> {output name: array}`` over an ONNX model (onnxruntime, CPU).

    Raises:
        ImportError: onnxruntime is not installed.
    """
    import onnxruntime as ort

    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    (input_arg,) = session.get_inputs()
    names = [o.name for o in session.get_outputs()]
    return lambda x: dict(zip(names, session.run(names, {input_arg.name: x}), strict=True))


RUNNERS = {FORMAT_LITERT: litert_runner, FORMAT_ONNX: onnx_runner}


# ------------------------------------------------------------------------------------------------
# Export and check


@dataclasses.dataclass
class EdgeCheck:
    """An exported file compared with the Keras model on one input.

    Attributes:
        max_abs_error: output name -> max |exported - Keras|.
        scale: output name -> max |Keras| (the errors are relative to this).
        latency_ms: median CPU latency of one call in the runtime, or None when not measured.
    """

    max_abs_error: dict[str, float]
    scale: dict[str, float]
    latency_ms: float | None = None

    def relative_error(self) -> float:
        """The largest max-abs error over the outputs, each divided by its output's scale."""
        return max(self.max_abs_error[k] / max(self.scale[k], 1e-12) for k in self.scale)


@dataclasses.dataclass
class EdgeExport:
    """One written file: ``path`` of ``part`` in ``fmt`` with ``quantize``; ``check`` or None."""

    part: str
    fmt: str
    quantize: str
    path: Path
    input_shape: tuple[int, ...]
    check: EdgeCheck | None = None

    @property
    def size_mb(self) -> float:
        return self.path.stat().st_size / 1e6


def check_export(
    edge: EdgeModel,
    run: Runner,
    latency_runs: int = DEFAULT_LATENCY_RUNS,
    seed: int = CHECK_SEED,
) -> EdgeCheck:
    """Compare ``run`` (an exported file in its runtime) with the Keras model on a seeded input.

    Raises:
        ValueError: the exported outputs' names or shapes differ from the Keras model's.
    """
    x = edge.sample(np.random.default_rng(seed))
    want = {k: np.asarray(v) for k, v in edge.fn(tf.constant(x)).items()}
    got = run(x)
    if set(got) != set(want):
        raise ValueError(f"{edge.part}: exported outputs {sorted(got)}, expected {sorted(want)}")
    errors, scales = {}, {}
    for key, value in want.items():
        if got[key].shape != value.shape:
            raise ValueError(
                f"{edge.part}: output {key} has shape {got[key].shape}, expected {value.shape}"
            )
        errors[key] = float(np.max(np.abs(got[key].astype(np.float64) - value)))
        scales[key] = float(np.max(np.abs(value)))
    latency = None
    if latency_runs > 0:
        times = []
        for _ in range(latency_runs):
            start = time.perf_counter()
            run(x)
            times.append(time.perf_counter() - start)
        latency = 1e3 * float(np.median(times))
    return EdgeCheck(errors, scales, latency)


def edge_file_name(part: str, fmt: str, quantize: str = QUANTIZE_NONE) -> str:
    """e.g. ``predictor_float32.tflite``, ``encoder_int8.tflite``, ``predictor.onnx``."""
    if fmt == FORMAT_ONNX:
        return f"{part}{SUFFIXES[fmt]}"
    return f"{part}_{QUANTIZE_TAGS[quantize]}{SUFFIXES[fmt]}"


def export_edge(
    out_dir: str | os.PathLike,
    model: HMMR,
    resnet: keras.Model | None,
    fmt: str = FORMAT_LITERT,
    quantize: str = QUANTIZE_NONE,
    parts: Sequence[str] = PARTS,
    window: int = DEFAULT_WINDOW,
    batch: int = DEFAULT_BATCH,
    check: bool = True,
    latency_runs: int = DEFAULT_LATENCY_RUNS,
) -> list[EdgeExport]:
    """Write ``parts`` of the models as ``fmt`` files into ``out_dir`` (created), one per part.

    Args:
        fmt: ``litert`` or ``onnx``.
        quantize: LiteRT only (:data:`QUANTIZATIONS`); ONNX takes ``none``.
        window: T of the predictor's input (1, T, D).
        batch: N of the encoder's input (N, S, S, 3).
        check: compare each file with the Keras model (:func:`check_export`); checking ONNX
            needs onnxruntime and is skipped (``check`` None) without it.
    Raises:
        ValueError: unknown format, part or quantisation; quantisation asked of ONNX;
            ``out_dir`` is a file; the encoder asked without a ResNet.
        ImportError: ONNX without tf2onnx.
    """
    if fmt not in EDGE_FORMATS:
        raise ValueError(f"edge format must be one of {EDGE_FORMATS}, got {fmt!r}")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"quantize must be one of {QUANTIZATIONS}, got {quantize!r}")
    if fmt == FORMAT_ONNX and quantize != QUANTIZE_NONE:
        raise ValueError(f"--quantize {quantize} applies to --format litert only; ONNX is float32")
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"parts must be a non-empty subset of {PARTS}, got {list(parts)}")
    if PART_ENCODER in parts and resnet is None:
        raise ValueError("the encoder part needs the ResNet")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    builders = {
        PART_PREDICTOR: lambda: predictor_model(model, window),
        PART_ENCODER: lambda: encoder_model(resnet, batch),
    }
    results = []
    for part in PARTS:
        if part not in parts:
            continue
        edge = builders[part]()
        data = to_litert(edge, quantize) if fmt == FORMAT_LITERT else to_onnx(edge)
        path = out / edge_file_name(part, fmt, quantize)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        result = EdgeExport(part, fmt, quantize, path, edge.input_shape)
        if check and (fmt == FORMAT_LITERT or _has_onnxruntime()):
            result.check = check_export(edge, RUNNERS[fmt](path), latency_runs)
        results.append(result)
    return results


def _has_onnxruntime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
