"""Export a weights folder as a SavedModel for TF Serving (entry point ``hmmr-export``).

    python -m src.export --load_path models/hmmr_tf2 --out exported/hmmr/1
    python -m src.export --load_path models/hmmr_tf2 --out exported/hmmr_bf16/1 --precision bfloat16

Signatures ``serving_default`` (tubes of 224x224 crops), ``serve_phi`` (precomputed features),
``hallucinate`` (single crops: past / present / future) and ``encode`` (crops -> features); see
``docs/serving.md``. TF Serving expects a numbered version folder under the model's base path,
hence the ``/1``. Errors print one line to stderr and exit with status 1.
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
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), export, print a summary; returns the status."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
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
