"""Command line for body-model files (entry point ``hmmr-smpl``).

    python -m src.smpl convert IN.pkl OUT.npz      # any supported file -> clean .npz
    python -m src.smpl standin OUT.pkl [--num-verts 6890]   # write the stand-in body model

Errors print one line to stderr and exit with status 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hmmr-smpl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="convert an SMPL .pkl/.npz to a clean numpy .npz")
    convert.add_argument("input", help="official SMPL .pkl, numpy-only .pkl or .npz")
    convert.add_argument("output", help="output .npz")
    standin = sub.add_parser("standin", help="write the generated stand-in body model (.pkl)")
    standin.add_argument("output", help="output .pkl")
    standin.add_argument("--num-verts", type=int, default=None, help="vertex count (default 6890)")
    return parser


def _convert(input_path: str, output_path: str) -> str:
    from src.smpl.io import load_smpl_params, save_smpl_params

    if not output_path.endswith(".npz"):
        raise ValueError(f"{output_path}: the output of 'convert' must end in .npz")
    params = load_smpl_params(input_path)
    save_smpl_params(params, output_path)
    num_verts = params["v_template"].shape[0]
    extra = params.get("joint_regressor")
    joints = f", {extra.shape[0]}-joint regressor" if extra is not None else ""
    return f"wrote {output_path} ({num_verts} vertices{joints})"


def _standin(output_path: str, num_verts: int | None) -> str:
    from src.smpl.standin import DEFAULT_NUM_VERTS, write_standin_model

    path = write_standin_model(output_path, num_verts or DEFAULT_NUM_VERTS)
    return f"wrote the stand-in body model (not SMPL) to {path}"


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "convert":
            message = _convert(args.input, args.output)
        else:
            message = _standin(args.output, args.num_verts)
    except (OSError, ValueError) as err:
        print(f"hmmr-smpl {args.command}: error: {err}", file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(run())
