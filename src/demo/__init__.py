"""The demo as a library: video -> person tracks -> crops -> HMMR -> files and videos.

Streaming (memory bounded by one batch of windows, whatever the video length; ORIGINAL_SPEC §8):

1. **Tracks** (``tracks``): BlazePose on every decoded frame (``src.video.blazepose``), or a given
   tracks file (OpenPose folder / JSON, AlphaPose / PoseFlow JSON, box CSV); people are linked
   into tracks, sorted by length; ``track_id`` picks one, ``all_tracks`` takes all.
2. **Crops** (``pipeline``): the original's bbox smoothing and 224x224 crops
   (``src.video.bbox``), cut while the video is decoded a second time.
3. **Prediction** (``pipeline``, ``outputs``): ResNet features in batches and the original's
   sliding window (:class:`src.inference.predictor.Predictor`); per-frame outputs are spooled to
   ``.npy`` memory maps, then written as ``hmmr_output.npz`` (documented keys,
   ``docs/demo_outputs.md``) and the original's ``hmmr_output.pkl``, each to a temporary name and
   renamed.
4. **Rendering** (``render``, after the outputs are saved, so a rendering failure never loses
   them): the mesh over the original frames beside a side view, an mp4 at the source fps
   (``hmmr_output.mp4``), and optionally the original's 2x2 crop grid (``hmmr_output_crop.mp4``).

Single images (``image.run_image``) go through the hallucinator: past, present and future side by
side. ``options`` holds what the demo is told and returns, ``timing`` the per-stage timer,
``models`` the networks it runs, ``cli`` the command line (entry points ``demo.py`` and
``hmmr-demo``).

Without weights (no ``load_path`` and nothing at ``models/hmmr_tf2``) the networks are randomly
initialised (seeded) and every output says so: console, video banner, ``untrained`` in the npz.
"""

from src.demo.cli import build_parser, main
from src.demo.image import run_image
from src.demo.models import load_demo_models
from src.demo.options import DemoError, DemoOptions, DemoResult, TrackResult
from src.demo.outputs import FrameStore
from src.demo.pipeline import run_video
from src.demo.timing import StageTimer

__all__ = [
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "FrameStore",
    "StageTimer",
    "TrackResult",
    "build_parser",
    "load_demo_models",
    "main",
    "run_image",
    "run_video",
]
