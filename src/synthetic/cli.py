"""Generate the synthetic world from the CMU clips:

    python -m src.synthetic --out data/synthetic [--mocap_dir ../shared/data/mocap/cmu]
        [--seed 0] [--tracks_3d 1200] [--tracks_2d 1200] [--phi_dim 256] [--smpl_model_path ...]

Writes ``<out>/synth_3d/{train,test}``, ``<out>/synth_2d/train``, ``<out>/mocap_neutrMosh`` and
``<out>/world.json`` (the recipe's parameters, the subject split and the counts); the retargeted
clips are cached in ``<out>/clips``. Rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from src import paths
from src.synthetic.world import WorldConfig

PROG = "python -m src.synthetic"
DEFAULT_MOCAP_DIR = paths.REPO_ROOT.parent / "shared" / "data" / "mocap" / "cmu"


def build_parser() -> argparse.ArgumentParser:
    defaults = WorldConfig()
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--out", required=True, help="output root (a --data_dir for training)")
    add("--mocap_dir", default=str(DEFAULT_MOCAP_DIR), help="folder of CMU .bvh[.gz] clips")
    add("--clips_per_subject", type=int, default=None, help="use only the first N per subject")
    add(
        "--smpl_model_path",
        default=paths.STANDIN_NAME,
        help="body model (default: the generated stand-in)",
    )
    for field in (
        "seed",
        "tracks_3d",
        "tracks_2d",
        "phi_dim",
        "test_subjects",
        "mocap_samples",
        "track_frames",
        "test_max_frames",
    ):
        add(
            f"--{field}",
            type=int,
            default=getattr(defaults, field),
            help=f"WorldConfig.{field} (default {getattr(defaults, field)})",
        )
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from src.smpl.resolve import resolve_body_model
    from src.synthetic.clips import clip_files, load_clips
    from src.synthetic.world import write_world

    overrides = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(WorldConfig)
        if hasattr(args, f.name)
    }
    cfg = dataclasses.replace(WorldConfig(), **overrides)
    try:
        smpl = resolve_body_model(args.smpl_model_path).path
        out = Path(args.out)
        files = clip_files(args.mocap_dir, args.clips_per_subject)
        clips = load_clips(files, out / "clips", cfg.fps, smpl)
        manifest = write_world(clips, out, cfg, smpl)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except (OSError, ValueError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1
    print(f"{out}: {manifest['counts']}; test subjects {manifest['split']['test']}")
    return 0
