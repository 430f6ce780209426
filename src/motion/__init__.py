"""Real motion in: BVH files read/written and retargeted onto the body model's 24-joint tree;
predicted motion out: a demo track as a BVH on that tree, or as a glTF of the skinned mesh.

Public API::

    from src.motion import read_bvh, write_bvh, retarget_file, export_result

- ``bvh.py``: the BVH reader/writer and forward kinematics (numpy);
- ``skeletons.py``: the named joint tables (CMU's three skeleton kinds, the body model's own);
- ``rotations.py``: swing / Kabsch / resampling helpers;
- ``retarget.py``: mocap -> theta[0:72] + trans, and the bone-direction error;
- ``manifest.py``: the CMU folder's ``MANIFEST.tsv`` (subject, leading frames to drop);
- ``export.py``: theta (+ the demo's translation) -> BVH, Y up, metres (``result_bvh``);
- ``gltf.py``: the same motion on the body mesh, skinned, as a binary glTF (``pygltflib``);
- ``cli.py``: ``python -m src.motion retarget|report|export``.

Numpy and scipy only (``pygltflib`` for the glTF, imported when used): no TensorFlow.
"""

from src.motion.bvh import Bvh, forward_kinematics, make_bvh, read_bvh, write_bvh
from src.motion.export import export_result, result_bvh
from src.motion.retarget import retarget_bvh, retarget_file

__all__ = [
    "Bvh",
    "export_result",
    "forward_kinematics",
    "make_bvh",
    "read_bvh",
    "result_bvh",
    "retarget_bvh",
    "retarget_file",
    "write_bvh",
]
