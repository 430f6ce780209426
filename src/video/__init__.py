"""Video stage of the demo: reading and writing video, person tracks, crops (rendering is
:mod:`src.render`).

Modules (imported by name, nothing is re-exported here so that importing one stays light):

- ``io``: streaming OpenCV frame readers (video file or image folder) and an mp4 writer.
- ``blazepose_models``: unpack / locate MediaPipe's two BlazePose ``.tflite`` files.
- ``blazepose``: BlazePose person detection and 33 landmarks through ``tf.lite.Interpreter``.
- ``tracks``: OpenPose / AlphaPose / PoseFlow / box-file readers and Hungarian linking into tracks.
- ``bbox``: the original's bbox smoothing and 224x224 crops (docs/original_release.md §8 steps 5-6).
"""
