"""Dataset converters: raw datasets -> the original HMMR TFRecord schema
(docs/original_release.md §6).

One module per source, each a command-line tool (``python -m tfrecords_tools.<name> --help``):

=================  =========================================================================
``h36m``           Human3.6M as laid out by the original ``read_human36m`` (train/val/test)
``penn_action``    Penn Action ``frames/`` + ``labels/*.mat`` (train/val/test)
``threedpw``       3DPW ``sequenceFiles/`` + ``imageFiles/`` (val/test records with 3D truth)
``in_the_wild``    videos or frame folders + OpenPose / AlphaPose JSON (InstaVariety, your own)
``mocap``          MoSh / AMASS pose+shape records for the adversarial prior
=================  =========================================================================

Output: ``<output_directory>/<split>/*.tfrecord`` (mocap: ``<output_directory>/*.tfrecord``),
the layout ``src.data.pipeline`` and the evaluation read under ``<data_dir>/<dataset>/``.
Every converter is resumable (finished files are skipped) and can run over processes
(``--num_workers``) or, with ``--runner``, as an Apache Beam pipeline on any runner
(:mod:`tfrecords_tools.beam`, the same files). What they share: the command line
(:mod:`tfrecords_tools.cli`), the conversion run and its output folders
(:mod:`tfrecords_tools.common`), the phi encoder (:mod:`tfrecords_tools.encoder`), the records
of one track (:mod:`tfrecords_tools.track_records`) and the reading of label files
(:mod:`tfrecords_tools.label_files`).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
