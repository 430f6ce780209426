"""HMMR demo: ``python demo.py --vid_path video.mp4`` (see ``python demo.py --help``).

3D bodies for the people in a video (or ``--img_path``: past / present / future from one image),
written as ``hmmr_output.npz`` / ``hmmr_output.pkl`` and an overlay video; the outputs are
described in ``docs/demo_outputs.md``. The pipeline lives in :mod:`src.demo`.
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from src.demo.cli import main  # here: TensorFlow is imported after the settings above

    sys.exit(main(prog="demo.py"))
