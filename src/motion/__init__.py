"""Real motion in: BVH files read/written and retargeted onto the body model's 24-joint tree.

Public API::

    from src.motion import read_bvh, write_bvh, retarget_file

- ``bvh.py``: the BVH reader/writer and forward kinematics (numpy);
- ``skeletons.py``: the named joint tables (CMU's three skeleton kinds, the body model's own);
- ``rotations.py``: swing / Kabsch / resampling helpers;
- ``retarget.py``: mocap -> theta[0:72] + trans, and the bone-direction error;
- ``manifest.py``: the CMU folder's ``MANIFEST.tsv`` (subject, leading frames to drop);
- ``cli.py``: ``python -m src.motion retarget|report``.

Numpy and scipy only: no TensorFlow.
"""

from src.motion.bvh import Bvh, forward_kinematics, make_bvh, read_bvh, write_bvh
from src.motion.retarget import retarget_bvh, retarget_file

__all__ = [
    "Bvh",
    "forward_kinematics",
    "make_bvh",
    "read_bvh",
    "retarget_bvh",
    "retarget_file",
    "write_bvh",
]
