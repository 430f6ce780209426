"""Export a weights folder: SavedModel for TF Serving, or LiteRT / ONNX files (``hmmr-export``).

    python -m src.export --load_path models/hmmr_tf2 --out exported/hmmr/1
    python -m src.export --load_path models/hmmr_tf2 --out exported/hmmr_bf16/1 --precision bfloat16
    python -m src.export --load_path models/hmmr_tf2 --out exported/edge --format litert \
        [--quantize float16|dynamic] [--parts predictor encoder] [--window 20] [--batch 1]
    python -m src.export --load_path models/hmmr_tf2 --out exported/edge --format onnx

Signatures ``serving_default`` (tubes of 224x224 crops), ``serve_phi`` (precomputed features),
``hallucinate`` (single crops: past / present / future) and ``encode`` (crops -> features); see
``docs/serving.md``. TF Serving expects a numbered version folder under the model's base path,
hence the ``/1``. ``--format litert|onnx`` writes fixed-shape files of the predictor from phi
and of the image encoder (:mod:`src.inference.edge_export`), checks each against the Keras model
and prints its error, size and CPU latency. Errors print one line to stderr and exit with
status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from src import constants


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hmmr-export", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--load_path", required=True, help="weights folder (python -m src.convert --out DIR)"
    )
    parser.add_argument(
        "--out", required=True, help="SavedModel folder to write, e.g. exported/hmmr/1"
    )
    parser.add_argument(
        "--smpl_model_path",
        default=None,
        help="body model (default models/neutral_smpl_with_cocoplustoesankles_reg.pkl if "
        "present, else the generated stand-in)",
    )
    parser.add_argument(
        "--with_verts",
        action="store_true",
        help="also output the mesh vertices (verts, verts_delta); large responses",
    )
    parser.add_argument(
        "--precision",
        default=constants.DEFAULT_PRECISION,
        choices=constants.PRECISIONS,
        help="arithmetic of the exported ResNet: float32 (default, the original's numbers) or "
        "bfloat16 (bf16 convolutions: AMX / AVX-512 BF16 CPUs, GPU tensor cores; inputs, "
        "outputs and the other networks stay float32; docs/benchmarks.md)",
    )
    edge = parser.add_argument_group("edge formats (--format litert|onnx)")
    edge.add_argument(
        "--format",
        default=constants.DEFAULT_EXPORT_FORMAT,
        choices=constants.EXPORT_FORMATS,
        help="savedmodel (default: TF Serving), litert (.tflite files) or onnx (.onnx files, "
        "needs tf2onnx: the [onnx] extra); --out is then a folder for the files",
    )
    edge.add_argument(
        "--quantize",
        default=constants.EDGE_QUANTIZATIONS[0],
        choices=constants.EDGE_QUANTIZATIONS,
        help="litert only: none (float32), float16 weights, or dynamic (int8 weights)",
    )
    edge.add_argument(
        "--parts",
        nargs="+",
        default=list(constants.EDGE_PARTS),
        choices=constants.EDGE_PARTS,
        help="which models: predictor (phi (1, T, 2048) -> thetas), encoder (crops "
        "(N, 224, 224, 3) -> phi (N, 2048)); default both",
    )
    edge.add_argument(
        "--window",
        type=int,
        default=constants.SEQUENCE_LENGTH,
        help="T, the predictor's fixed window (default %(default)s, as trained)",
    )
    edge.add_argument(
        "--batch", type=int, default=1, help="N, the encoder's fixed batch (default 1)"
    )
    return parser


def _run_edge(args: argparse.Namespace) -> int:
    """``--format litert|onnx``: write, check and summarise the edge files."""
    from src.checkpoints import weights_dir
    from src.inference.edge_export import PART_ENCODER, export_edge
    from src.inference.models import load_networks

    if args.with_verts or args.precision != constants.DEFAULT_PRECISION:
        print(
            "hmmr-export: error: --with_verts and --precision apply to --format savedmodel only",
            file=sys.stderr,
        )
        return 1
    try:
        folder = weights_dir.resolve(args.load_path)
        nets = load_networks(folder, with_resnet=PART_ENCODER in args.parts)
        results = export_edge(
            args.out, nets.model, nets.resnet, args.format, args.quantize, args.parts,
            window=args.window, batch=args.batch,
        )  # fmt: skip
    except (OSError, ValueError, ImportError) as err:
        message = " ".join(str(err).split())
        print(f"hmmr-export: error: {message}", file=sys.stderr)
        return 1
    print(f"weights: {folder}")
    for result in results:
        line = (
            f"wrote {result.path} ({result.part}, input {result.input_shape}, "
            f"{result.size_mb:.1f} MB)"
        )
        if result.check is not None:
            check = result.check
            errors = ", ".join(
                f"{k} {check.max_abs_error[k]:.2g} of {check.scale[k]:.3g}" for k in check.scale
            )
            line += f"; vs Keras max abs diff: {errors}; CPU latency {check.latency_ms:.1f} ms"
        print(line)
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), export, print a summary; returns the status."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if args.format != constants.DEFAULT_EXPORT_FORMAT:
        return _run_edge(args)
    if args.quantize != constants.EDGE_QUANTIZATIONS[0]:
        print("hmmr-export: error: --quantize applies to --format litert", file=sys.stderr)
        return 1
    from src.inference.export import SIGNATURES, export_from_weights

    try:
        path, models = export_from_weights(
            args.load_path,
            args.out,
            args.smpl_model_path,
            with_verts=args.with_verts,
            precision=args.precision,
        )
    except (OSError, ValueError) as err:
        message = " ".join(str(err).split())
        print(f"hmmr-export: error: {message}", file=sys.stderr)
        return 1
    if models.standin_body:
        print(
            f"warning: exported with the generated stand-in body model {models.body_model}, "
            "not SMPL; pass --smpl_model_path for real bodies",
            file=sys.stderr,
        )
    print(f"weights: {models.weights}")
    print(f"body model: {models.body_model}")
    print(f"ResNet precision: {models.precision}")
    print(f"wrote SavedModel {path} (tag 'serve'; signatures: {', '.join(SIGNATURES)})")
    return 0


if __name__ == "__main__":
    sys.exit(run())
