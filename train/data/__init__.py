"""Training data: real-dataset readers, synthetic shard adapter, crop presets, paired transforms, mixing.

Every reader is indexable (``len``, ``reader[i] -> Sample``) and yields the
canonical labels of ``synth.pose`` (rotation head -> OpenCV camera; Euler
``(pitch, yaw, roll)`` degrees in the 300W-LP/AFLW2000 sense). Modules:

``sample``      Sample dataclass, FLIP_68
``errors``      DatasetError, MixSpecError
``aflw``        AFLW2000Reader, Pose300WLPReader, read_pose_mat
``biwi``        BIWIReader, read_depth, read_pose, read_calibration, BIWI_SUBJECTS
``pointing04``  Pointing04Reader, parse_name
``panoptic``    PanopticReader, read_annotations
``synth_shards`` SynthShardReader (over synth.shards)
``crops``       PRESETS, get_preset, crop_resize
``transforms``  hflip, rotate_inplane, jitter_box, blur, add_noise, downsample_upsample, RandomAugment, ToTensor
``protocols``   angle_filter, make_biwi_split, load_split, PROTOCOLS
``mixing``      parse_mix_spec, build_mixed_dataset, MixedDataset, ReaderDataset
"""
from .errors import DatasetError, MixSpecError
from .sample import FLIP_68, Sample

__all__ = ["DatasetError", "MixSpecError", "Sample", "FLIP_68"]
