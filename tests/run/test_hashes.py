"""C2: the config hash and data fingerprint of a record depend on content, not on file times,
folders or caches: the same data copied elsewhere, run from an empty cache, gives the same
hashes (and values) as the reference run."""

from __future__ import annotations

import os
import shutil

import yaml

from tests.run.helpers import definition, outcome, run_cli


def test_the_same_data_elsewhere_from_an_empty_cache_gives_the_same_hashes(tree, tmp_path,
                                                                           reference):
    copy = tmp_path / "elsewhere" / tree.name  # the dataset's name is its folder's name
    shutil.copytree(tree, copy)
    for clip in copy.rglob("*.wav"):
        os.utime(clip, (1e9, 1e9))  # other file times
    spec = tmp_path / "copy.yaml"
    spec.write_text(yaml.safe_dump(definition(copy)))
    assert run_cli(["run", spec, "--out", tmp_path / "out"], tmp_path / "empty-cache",
                   tmp_path / "run.log") == 0, (tmp_path / "run.log").read_text()
    assert outcome(tmp_path / "out") == reference[0]  # config_hash, data_fingerprint, values
