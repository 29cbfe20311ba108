"""Typed, versioned records: the manifest, sample records and drift.json, their JSON
Schema files, and the public readers ``load_run`` / ``load_drift``."""

import json
from pathlib import Path

from evalsuite.schema._drift import (
    CategoryDrift,
    ComparisonDrift,
    DistributionDrift,
    DriftReport,
    DriftSettings,
    InstructionDrift,
    MetricDrift,
    RunMeta,
    TaskDrift,
)
from evalsuite.schema._io import (
    dump,
    freeze_after_reading,
    read_drift,
    read_manifest,
    read_sample_rows,
    read_samples,
    view,
)
from evalsuite.schema._models import (
    SCHEMA_VERSION,
    Instruction,
    Manifest,
    Metrics,
    ModelInfo,
    SampleRecord,
    TaskInfo,
)
from evalsuite.schema._run import RunRecord, load_drift, load_run, load_run_rows

SCHEMA_DIR = Path(__file__).resolve().parent
"""Where the generated JSON Schema files ship: manifest, sample and drift."""
SCHEMAS = {"manifest": Manifest, "metrics": Metrics, "sample": SampleRecord,
           "drift": DriftReport}


def json_schemas() -> dict[str, str]:
    """File name -> text of each JSON Schema, generated from the models."""
    out = {}
    for name, model in SCHEMAS.items():
        schema = model.model_json_schema()
        schema["$id"] = f"https://evalsuite.invalid/schema/v{SCHEMA_VERSION}/{name}.schema.json"
        out[f"{name}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


__all__ = [
    "SCHEMAS", "SCHEMA_DIR", "SCHEMA_VERSION", "CategoryDrift", "ComparisonDrift",
    "DistributionDrift", "DriftReport", "DriftSettings", "InstructionDrift", "Instruction",
    "Manifest", "MetricDrift", "Metrics", "ModelInfo", "RunMeta", "RunRecord", "SampleRecord",
    "TaskDrift", "TaskInfo", "dump", "freeze_after_reading", "json_schemas", "load_drift",
    "load_run", "load_run_rows", "read_drift", "read_sample_rows", "read_manifest",
    "read_samples", "view",
]
