"""Errors of the parameter check: one line per problem with its key, its value and the rule.

``check_parameters`` applies ``schema.ProjectParameters`` to the merged parameters; a problem
becomes ``- <key> = <value>: <what went wrong>; allowed: <rule>``, the rule read from the
field's type (``allowed_values``).
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from logifold_kedro.parameter_checks.schema import ProjectParameters


class ParameterError(ValueError):
    """Parameters that no node could use; the message lists each key, value and rule."""


def _value_at(params: Mapping[str, Any], location: Iterable[Any]) -> Any:
    value: Any = params
    for part in location:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return "(missing)"
    return value


def _dotted(location: Iterable[Any]) -> str:
    # pydantic adds the model or type name to locations inside unions; keep the keys.
    parts = [str(p) for p in location if not str(p)[:1].isupper() and "[" not in str(p)]
    return ".".join(parts) or "(parameters)"


_BOUNDS = (
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "<="),
    (annotated_types.Lt, "lt", "<"),
)


def _flat(metadata: Iterable[Any]) -> list[Any]:
    # Field(...) inside Annotated carries its constraints in its own metadata list.
    items = []
    for item in metadata:
        items += _flat(item.metadata) if isinstance(item, FieldInfo) else [item]
    return items


def _bounds(metadata: Iterable[Any]) -> str:
    parts = []
    for item in _flat(metadata):
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"matching {pattern}")
        for kind, attribute, sign in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attribute)}")
    return " and ".join(parts)


def allowed_values(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    """What a field accepts, in words: ``a finite number >= 0``, ``one of 'error', 'skip'``."""
    metadata = list(metadata)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return allowed_values(inner, [*extra, *metadata])
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        text = " or ".join(allowed_values(a, metadata) for a in options)
        return text + " or null" if len(options) < len(get_args(annotation)) else text
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return f"a list of {allowed_values(item)}"
    if origin is tuple:
        return "a pair [" + ", ".join(allowed_values(a) for a in get_args(annotation)) + "]"
    if origin is dict:
        return f"a mapping of names to {allowed_values(get_args(annotation)[1])}"
    bounds = _bounds(metadata)
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "text"}
    if annotation in names:
        return f"{names[annotation]} {bounds}".strip()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"a mapping ({annotation.__name__} keys: {', '.join(annotation.model_fields)})"
    return getattr(annotation, "__name__", str(annotation))


def _field_rule(location: Iterable[Any]) -> str:
    """``allowed_values`` of the field at a pydantic error location, or "" if none is known."""
    annotation: Any = ProjectParameters
    metadata: list[Any] = []
    for part in location:
        while get_origin(annotation) in (Union, types.UnionType, Annotated):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if get_origin(annotation) is Annotated:
                metadata = [*metadata, *get_args(annotation)[1:]]
            annotation = args[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return ""
            annotation, metadata = field.annotation, list(field.metadata)
        elif get_origin(annotation) in (dict, list):
            annotation, metadata = get_args(annotation)[-1], []
        elif get_origin(annotation) is tuple and isinstance(part, int):
            annotation, metadata = get_args(annotation)[part], []
        else:
            return ""
    return allowed_values(annotation, metadata)


def describe_errors(error: ValidationError, params: Mapping[str, Any]) -> list[str]:
    """One line per problem: ``- <key> = <value>: <what went wrong>; allowed: <rule>``."""
    lines = []
    for problem in error.errors():
        location = [p for p in problem["loc"] if not str(p)[:1].isupper() and "[" not in str(p)]
        key = _dotted(location)
        value = _value_at(params, location)
        message = problem["msg"].removeprefix("Value error, ")
        try:  # the rule is a help; never let describing it hide the error itself
            rule = _field_rule(location) if problem["type"] != "value_error" else ""
        except (TypeError, ValueError, IndexError):
            rule = ""
        lines.append(f"- {key} = {value!r}: {message}" + (f"; allowed: {rule}" if rule else ""))
    return sorted(set(lines), key=lines.index)


def check_parameters(params: Mapping[str, Any]) -> None:
    """Raise ParameterError naming every parameter a node would refuse, else return.

    ``params`` is the merged parameters dict (conf files and ``--params``), as Kedro's
    ``parameters`` entry holds it. Nothing is converted or returned: the nodes get the values
    unchanged.
    """
    try:
        ProjectParameters.model_validate(dict(params))
    except ValidationError as error:
        raise ParameterError(
            "these parameters cannot be used (nothing was run):\n"
            + "\n".join(describe_errors(error, params))
            + "\nFix them in conf/<env>/parameters*.yml or in --params, then run again."
        ) from None
