"""Moved to :mod:`audioxai_bench.run.records`; this path works for one release (0.2)."""

from audioxai_bench.run.records import *  # noqa: F403
from audioxai_bench.run.records import (  # noqa: F401
    CELL_FIELDS,
    COLUMNS,
    RESULTS_FILE,
    SCHEMA_VERSION,
    Record,
    ResultStore,
    cell_key,
    config_hash,
    environment,
    latest,
    load_results,
    read_records,
    results_file,
    validate_record,
)
