"""``ModelSpec`` is the one statement of the catalog entry: data, ``-o json`` and schema agree.

These tests derive the expected keys from the model itself (never a hand-written list), so they
fail if any path grows its own copy of the schema: the packaged data, ``kaito presets list|show
-o json`` and ``kaito presets schema`` must all follow a field added to the model.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from kaito.cli.main import app
from kaito.presets import catalog, catalog_file
from kaito.presets.model_spec import ModelSpec, VLLMParams

runner = CliRunner()


def _keys(model: type[ModelSpec] | type[VLLMParams]) -> set[str]:
    fields = {info.alias or name for name, info in model.model_fields.items()}
    computed = {info.alias or name for name, info in model.model_computed_fields.items()}
    return fields | computed


def _cli_json(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_show_json_has_exactly_the_models_fields_nested_ones_included():
    data = _cli_json("presets", "show", "gpt-oss-20b", "-o", "json")
    assert set(data) == _keys(ModelSpec)
    assert set(data["vllm"]) == _keys(VLLMParams)


def test_published_schema_is_the_models_and_every_entry_conforms_to_it():
    schema = _cli_json("presets", "schema")
    assert set(schema["properties"]) == _keys(ModelSpec)
    assert set(schema["$defs"]["VLLMParams"]["properties"]) == _keys(VLLMParams)
    # The loader-only fields are marked readOnly; every listed entry validates.
    assert schema["properties"]["bestEffort"]["readOnly"] is True
    listed = _cli_json("presets", "list", "--all", "-o", "json")
    assert len(listed) == len(catalog.load_catalog().models)
    validator = jsonschema.Draft202012Validator(schema)
    for entry in [*listed, catalog.get_model("someorg/some-model").to_dict()]:
        validator.validate(entry)


def test_schema_yaml_equals_schema_json():
    as_yaml = runner.invoke(app, ["presets", "schema", "-o", "yaml"])
    assert as_yaml.exit_code == 0, as_yaml.output
    assert yaml.safe_load(as_yaml.stdout) == _cli_json("presets", "schema")


@pytest.mark.parametrize("spec", catalog.load_catalog().models, ids=lambda spec: spec.name)
def test_json_output_reads_back_as_the_same_spec(spec):
    # Output names are the data file's names: dropping the computed fields gives a valid entry.
    data = {k: v for k, v in spec.to_dict().items() if k not in _computed_aliases()}
    assert ModelSpec.model_validate(data) == spec


def _computed_aliases() -> set[str]:
    return {info.alias or name for name, info in ModelSpec.model_computed_fields.items()}


class _Extended(ModelSpec):
    """ModelSpec with one more field, to show each path picks a new field up by itself."""

    serving_notes: str = "none"


_ENTRY = """
models:
- name: tiny
  hfRepo: org/tiny
  diskGiB: 1
  architectures: [LlamaForCausalLM]
  servingNotes: keep warm
"""


def test_a_field_added_to_the_model_reaches_data_json_and_schema(monkeypatch):
    # Our own seams: the loader's model, the catalog's lookup and model as the CLI sees them.
    monkeypatch.setattr(catalog_file, "ModelSpec", _Extended)
    (spec,) = catalog_file.parse_catalog(_ENTRY).models
    assert isinstance(spec, _Extended)
    assert spec.serving_notes == "keep warm"
    monkeypatch.setattr(catalog, "get_model", lambda name: spec)
    monkeypatch.setattr(catalog, "ModelSpec", _Extended)
    shown = _cli_json("presets", "show", "tiny", "-o", "json")
    assert shown["servingNotes"] == "keep warm"
    schema = _cli_json("presets", "schema")
    assert "servingNotes" in schema["properties"]
    # Without the field in the model, the same data is refused, naming entry and field.
    monkeypatch.undo()
    with pytest.raises(catalog.CatalogDataError, match=r"entry 0 \(tiny\): servingNotes: unknown"):
        catalog_file.parse_catalog(_ENTRY)


def test_extra_vllm_flags_keep_the_data_order_and_print_as_a_mapping():
    text = _ENTRY.replace("  servingNotes: keep warm\n", "") + (
        "  vllm: {extraArgs: {zeta: '1', alpha: null, mid: 2}}\n"
    )
    (spec,) = catalog.parse_catalog(text).models
    assert spec.vllm.extra_args == (("zeta", "1"), ("alpha", ""), ("mid", "2"))
    assert list(spec.to_dict()["vllm"]["extraArgs"].items()) == [
        ("zeta", "1"),
        ("alpha", ""),
        ("mid", "2"),
    ]


def test_specs_are_frozen_and_hashable():
    spec = catalog.get_model("phi-4")
    with pytest.raises(ValueError, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    assert {spec: 1}[catalog.get_model("PHI-4")] == 1
