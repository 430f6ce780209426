"""Convert the released TF1 checkpoints into the weights folder (entry point ``hmmr-convert``).

    python -m src.convert --hmmr_ckpt models/hmmr_model.ckpt-1119816 \\
        --hmr_ckpt models/hmr_noS5.ckpt-642561 --out models/hmmr_tf2

Either checkpoint may be omitted (not both). A checkpoint is given by its prefix, by one of its
files, or by a folder with a ``checkpoint`` file. The output folder is what ``--load_path``
(demo, evaluation, export) and ``--pretrained_model_path`` (training) take; see
``docs/converting_checkpoints.md``. Errors print one line to stderr and exit with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

MAX_LISTED = 20  # unmapped names printed before "... and N more"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hmmr-convert", description=__doc__.splitlines()[0])
    parser.add_argument("--hmmr_ckpt", help="HMMR checkpoint, e.g. models/hmmr_model.ckpt-1119816")
    parser.add_argument("--hmr_ckpt", help="HMR checkpoint, e.g. models/hmr_noS5.ckpt-642561")
    parser.add_argument("--out", required=True, help="weights folder to write (created if needed)")
    parser.add_argument(
        "--strict", action="store_true", help="fail when a variable is neither mapped nor ignored"
    )
    return parser


def _summary(conversion, parameters: dict[str, int]) -> list[str]:
    """Lines describing one converted checkpoint."""
    lines = [
        f"{conversion.kind} checkpoint {conversion.prefix}: {conversion.num_variables} variables"
    ]
    for part, count in conversion.mapped.items():
        lines.append(f"  {part:<26} {count:5d} variables {parameters[part]:>13,} values")
    if conversion.checked_only:
        lines.append(f"  {'checked, not written':<26} {conversion.checked_only:5d}")
    ignored = sum(conversion.ignored.values())
    reasons = "; ".join(f"{reason}: {n}" for reason, n in sorted(conversion.ignored.items()))
    lines.append(f"  {'ignored':<26} {ignored:5d}" + (f"  ({reasons})" if reasons else ""))
    lines.append(f"  {'unmapped':<26} {len(conversion.unmapped):5d}")
    for name in conversion.unmapped[:MAX_LISTED]:
        lines.append(f"    warning: unmapped {name}")
    if len(conversion.unmapped) > MAX_LISTED:
        lines.append(f"    ... and {len(conversion.unmapped) - MAX_LISTED} more")
    lines += [f"  note: {note}" for note in conversion.notes]
    return lines


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), convert, print a summary; returns the status."""
    args = _parser().parse_args(argv)
    if args.hmmr_ckpt is None and args.hmr_ckpt is None:
        print("hmmr-convert: error: give --hmmr_ckpt, --hmr_ckpt or both", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from src.checkpoints.tf1 import convert_checkpoints

    try:
        result = convert_checkpoints(
            args.out,
            hmmr_ckpt=args.hmmr_ckpt,
            hmr_ckpt=args.hmr_ckpt,
            strict=args.strict,
            progress=print,
        )
    except (OSError, ValueError) as err:
        message = " ".join(str(err).split())  # one line, whatever the source
        print(f"hmmr-convert: error: {message}", file=sys.stderr)
        return 1
    for conversion in result.conversions:
        parameters = {
            part: sum(int(a.size) for a in arrays.values())
            for part, arrays in conversion.parts.items()
        }
        parameters.update({part: 0 for part in conversion.mapped if part not in parameters})
        print("\n".join(_summary(conversion, parameters)))
    total_unmapped = sum(len(c.unmapped) for c in result.conversions)
    parts = sorted(p for c in result.conversions for p in c.parts)
    print(f"unmapped variables: {total_unmapped}")
    print(f"wrote {result.out_dir}: {', '.join(parts)}")
    return 0


if __name__ == "__main__":
    sys.exit(run())
