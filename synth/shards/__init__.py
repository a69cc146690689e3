"""The HDF5 shard: schema (defined once), atomic writer, validating reader, run manifest.

A run folder (``synth render --out DIR``) holds ``shard-00000.h5``,
``shard-00001.h5``, ... and ``manifest.json``. Shard k holds the samples with
indices ``[k * S, min((k + 1) * S, n))``. A manifest lists plain ``shard-NNNNN.h5``
names only: any other entry (a path, ``..``) is refused on reading, so a manifest
from elsewhere never makes the reader or the runner open, hash or move an outside file.

One module per job; import the names from ``synth.shards``:

* :mod:`synth.shards.schema` -- every dataset, attribute, name and version (the table of a shard);
* :mod:`synth.shards.codec` -- how image chunks are coded: row delta (C kernel or numpy), zstd, filters;
* :mod:`synth.shards.writer` -- :class:`ShardWriter`, :func:`write_shard`;
* :mod:`synth.shards.reader` -- :class:`ShardReader`;
* :mod:`synth.shards.manifest` -- ``manifest.json`` and :func:`open_dataset` over a run folder.

Provenance (``code_version``, ``now_iso``, ``sha256_file``) lives in :mod:`synth.provenance` and is
re-exported here for the callers that read it with the shards. The figures behind the storage
choices are in ``bench/README.md``.
"""
from synth.provenance import code_version, now_iso, sha256_file
from synth.shards.codec import (_vdelta_decode_into, vdelta_dcpl, vdelta_decode, vdelta_decoded, vdelta_encode,
                                vdelta_kernel)
from synth.shards.manifest import ShardDataset, manifest_path, open_dataset, read_manifest, write_manifest
from synth.shards.reader import ShardReader
from synth.shards.schema import (COMPRESSIONS, DEFAULT_COMPRESSION, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, FORMAT,
                                 IMAGE_FIELDS, LABEL_FIELDS, LIBVER, MANIFEST_FORMAT, MANIFEST_NAME, MASK_FROM_DEPTH,
                                 MASK_SOURCE_ATTR, MASK_STORED, OPTIONAL_FIELDS, PARAMS_COLUMNS, PARAMS_FIELD,
                                 PREDICTOR_ATTR, PREDICTORS, READABLE_VERSIONS, REQUIRED_ATTRS, SCALAR_FIELDS,
                                 SCHEMA_VERSION, SHARD_NAME, SHARD_PATTERN, TMP_MARKER, VDELTA_FIELDS,
                                 VDELTA_FILTER_ID, ZSTD_FILTER_ID, ShardError)
from synth.shards.writer import (ShardWriter, _fsync_dir, flatten_params, mask_matches_depth, move_into_place,
                                 removed_on_error, write_shard)

__all__ = [
    # provenance
    "code_version", "now_iso", "sha256_file",
    # codec
    "_vdelta_decode_into", "vdelta_dcpl", "vdelta_decode", "vdelta_decoded", "vdelta_encode", "vdelta_kernel",
    # run folder
    "ShardDataset", "manifest_path", "open_dataset", "read_manifest", "write_manifest",
    # one shard
    "ShardReader", "ShardWriter", "_fsync_dir", "flatten_params", "mask_matches_depth", "move_into_place",
    "removed_on_error", "write_shard",
    # schema
    "COMPRESSIONS", "DEFAULT_COMPRESSION", "DEFAULT_GZIP_LEVEL", "DEFAULT_ZSTD_LEVEL", "FORMAT", "IMAGE_FIELDS",
    "LABEL_FIELDS", "LIBVER", "MANIFEST_FORMAT", "MANIFEST_NAME", "MASK_FROM_DEPTH", "MASK_SOURCE_ATTR",
    "MASK_STORED", "OPTIONAL_FIELDS", "PARAMS_COLUMNS", "PARAMS_FIELD", "PREDICTOR_ATTR", "PREDICTORS",
    "READABLE_VERSIONS", "REQUIRED_ATTRS", "SCALAR_FIELDS", "SCHEMA_VERSION", "SHARD_NAME", "SHARD_PATTERN",
    "TMP_MARKER", "VDELTA_FIELDS", "VDELTA_FILTER_ID", "ZSTD_FILTER_ID", "ShardError",
]
