"""Reading template.yaml with CloudFormation short tags as their long dict forms.

CloudFormation short tags (`!Ref`, `!GetAtt`, `!Sub`, ...) load as their long dict forms
(`{"Ref": ...}`, `{"Fn::GetAtt": [...]}`, `{"Fn::Sub": ...}`), so the result reads like the JSON
template CloudFormation itself sees.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

LOCAL_STACK_NAME = "roamsync-local"
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "000000000000"


class _TemplateLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """SafeLoader that turns CloudFormation short tags into their long forms."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type,unused-ignore]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        # `!GetAtt Res.Attr.Sub` is `["Res", "Attr.Sub"]`: only the first dot separates.
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{tag_suffix}": value}


_TemplateLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: str | Path | None = None) -> dict[str, Any]:
    """Parse a SAM template (default: the repository's template.yaml) with short tags in long form.

    Raises FileNotFoundError when the file is missing and yaml.YAMLError when it does not parse.
    """
    text = Path(path or DEFAULT_TEMPLATE).read_text(encoding="utf-8")
    loaded = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise ValueError(f"{path or DEFAULT_TEMPLATE} is not a CloudFormation template (no Resources)")
    return loaded
