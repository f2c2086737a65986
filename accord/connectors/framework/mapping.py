"""Mappings from source fields to the shared schema, declared in YAML and compiled once.

A mapping file::

    record_type: finding
    source_system: sap-s4hana
    timezone: UTC
    dates: [iso, odata_v2]                 # default formats for date fields
    fields:
      external_id: {from: QualityNotification, required: true}
      reference:   {template: "QN-{QualityNotification}"}
      severity:    {from: NotificationPriority, codes: {"1": critical, "2": high}}
      clause_keys: {const: ["iso9001:2015/8.7"]}
      raised_at:   {from: CreationDate, type: datetime}
    state:         {from: NotifProcessingPhase, codes: {"1": open, "4": closed}}

A rule takes one of ``from`` (optionally through ``codes``), ``template`` or ``const``; a
``default`` fills an empty source value; ``type`` (datetime, date, list, text) converts. An
instance's override is deep-merged over the shipped file, so a fix (a missing code, another
date format) is one small change and quarantined records can be replayed through it.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from accord.connectors.framework.dates import parse_date, parse_datetime
from accord.platform.errors import BadInput

_MISSING = object()
Reason = dict[str, Any]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_yaml(package: str, name: str) -> dict[str, Any]:
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise BadInput(f"Mapping {name} is not a YAML mapping.", reason="BAD_MAPPING")
    return loaded


@dataclass(frozen=True, slots=True)
class Rule:
    target: str
    source: str | None
    template: str | None
    template_fields: tuple[str, ...]
    const: Any
    codes: dict[str, Any] | None
    default: Any
    kind: str | None
    formats: list[str]
    required: bool
    separator: str


def _rule(target: str, spec: Mapping[str, Any], formats: list[str]) -> Rule:
    if not isinstance(spec, Mapping):
        spec = {"from": spec}
    template = spec.get("template")
    fields = tuple(f for _, f, _, _ in string.Formatter().parse(template) if f) if template else ()
    codes = spec.get("codes")
    return Rule(
        target=target,
        source=spec.get("from"),
        template=template,
        template_fields=fields,
        const=spec.get("const", _MISSING),
        codes={str(k): v for k, v in codes.items()} if codes else None,
        default=spec.get("default", _MISSING),
        kind=spec.get("type"),
        formats=list(spec.get("formats", formats)),
        required=bool(spec.get("required", False)),
        separator=str(spec.get("separator", ";")),
    )


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class RecordMapping:
    """A compiled mapping: ``apply(payload)`` gives the mapped record and every problem."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = dict(spec)
        self.record_type = str(spec.get("record_type", "finding"))
        self.source_system = str(spec.get("source_system", "external"))
        self.zone: tzinfo = ZoneInfo(str(spec.get("timezone", "UTC")))
        formats = list(spec.get("dates", ["iso"]))
        self.rules = [_rule(t, s, formats) for t, s in (spec.get("fields") or {}).items()]
        state = spec.get("state")
        self.state_rule = _rule("state", state, formats) if state else None
        # Each rule compiled once into a closure: ``apply`` interprets no rule per record.
        self._steps = [_compile(rule, self.zone) for rule in self.rules]
        self._state_step = _compile(self.state_rule, self.zone) if self.state_rule else None

    def _value(self, rule: Rule, payload: Mapping[str, Any]) -> Any:
        if rule.const is not _MISSING:
            return rule.const
        if rule.template is not None:
            if any(_blank(payload.get(f)) for f in rule.template_fields):
                return None
            return rule.template.format_map(payload)
        return payload.get(rule.source) if rule.source else None

    def _convert(self, rule: Rule, value: Any) -> Any:
        if rule.codes is not None:
            key = str(value).strip()
            if key not in rule.codes:
                raise _CodeError(key, sorted(rule.codes))
            value = rule.codes[key]
        match rule.kind:
            case "datetime":
                return parse_datetime(value, rule.formats, self.zone)
            case "date":
                return parse_date(value, rule.formats, self.zone)
            case "list":
                items = value if isinstance(value, list) else str(value).split(rule.separator)
                return [str(i).strip() for i in items if str(i).strip()]
            case "text":
                return str(value).strip()
        return value

    def map_rule(
        self, rule: Rule, payload: Mapping[str, Any], out: dict[str, Any], reasons: list[Reason]
    ) -> None:
        value = self._value(rule, payload)
        if _blank(value):
            if rule.default is not _MISSING:
                out[rule.target] = rule.default
            elif rule.required:
                reasons.append(_reason(rule, "REQUIRED", "no value in the source"))
            return
        try:
            out[rule.target] = self._convert(rule, value)
        except _CodeError as exc:
            reasons.append(
                _reason(
                    rule,
                    "UNKNOWN_CODE",
                    f"{exc.code!r} is not in the code list ({', '.join(exc.known)})",
                )
            )
        except ValueError as exc:
            reasons.append(
                _reason(
                    rule,
                    "BAD_DATE" if rule.kind in ("date", "datetime") else "INVALID_VALUE",
                    str(exc),
                )
            )

    def apply(self, payload: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, list[Reason]]:
        """(mapped fields, mapped state or None, reasons); no reasons means it mapped."""
        out: dict[str, Any] = {}
        reasons: list[Reason] = []
        for step in self._steps:
            step(payload, out, reasons)
        state: str | None = None
        if self._state_step is not None:
            holder: dict[str, Any] = {}
            self._state_step(payload, holder, reasons)
            state = holder.get("state")
        return out, state, reasons

    def column_of(self, target: str) -> str | None:
        """The source field a target field comes from (rejected-row reports name it)."""
        for rule in self.rules:
            if rule.target == target:
                return rule.source or (rule.template_fields[0] if rule.template_fields else None)
        return None


class _CodeError(ValueError):
    def __init__(self, code: str, known: list[str]) -> None:
        super().__init__(code)
        self.code, self.known = code, known


Step = Callable[[Mapping[str, Any], dict[str, Any], list[Reason]], None]


def _getter(rule: Rule) -> Callable[[Mapping[str, Any]], Any]:
    """The raw value of ``rule`` in a payload, as ``RecordMapping._value`` reads it."""
    if rule.const is not _MISSING:
        const = rule.const
        return lambda payload: const
    if rule.template is not None:
        template_format, fields = rule.template.format_map, rule.template_fields

        def from_template(payload: Mapping[str, Any]) -> Any:
            for f in fields:
                v = payload.get(f)
                if v is None or (isinstance(v, str) and not v.strip()):
                    return None
            return template_format(payload)

        return from_template
    if rule.source:
        source = rule.source
        return lambda payload: payload.get(source)
    return lambda payload: None


def _converter(rule: Rule, zone: tzinfo) -> Callable[[Any], Any] | None:
    """``RecordMapping._convert`` specialised to ``rule``; None when it is the identity."""
    formats, separator = rule.formats, rule.separator
    kind: Callable[[Any], Any] | None
    match rule.kind:
        case "datetime":

            def kind(value: Any) -> Any:
                return parse_datetime(value, formats, zone)

        case "date":

            def kind(value: Any) -> Any:
                return parse_date(value, formats, zone)

        case "list":

            def kind(value: Any) -> Any:
                items = value if isinstance(value, list) else str(value).split(separator)
                return [str(i).strip() for i in items if str(i).strip()]

        case "text":

            def kind(value: Any) -> Any:
                return str(value).strip()

        case _:
            kind = None
    if rule.codes is None:
        return kind
    codes = rule.codes
    known = sorted(codes)

    def coded(value: Any) -> Any:
        key = str(value).strip()
        try:
            value = codes[key]
        except KeyError:
            raise _CodeError(key, known) from None
        return value if kind is None else kind(value)

    return coded


def _compile(rule: Rule, zone: tzinfo) -> Step:
    """``RecordMapping.map_rule`` specialised to ``rule``: the same values and reasons."""
    get, convert = _getter(rule), _converter(rule, zone)
    target, default, required = rule.target, rule.default, rule.required
    has_default = default is not _MISSING
    bad_value = "BAD_DATE" if rule.kind in ("date", "datetime") else "INVALID_VALUE"

    def step(payload: Mapping[str, Any], out: dict[str, Any], reasons: list[Reason]) -> None:
        value = get(payload)
        if value is None or (isinstance(value, str) and not value.strip()):
            if has_default:
                out[target] = default
            elif required:
                reasons.append(_reason(rule, "REQUIRED", "no value in the source"))
            return
        if convert is None:
            out[target] = value
            return
        try:
            out[target] = convert(value)
        except _CodeError as exc:
            reasons.append(
                _reason(
                    rule,
                    "UNKNOWN_CODE",
                    f"{exc.code!r} is not in the code list ({', '.join(exc.known)})",
                )
            )
        except ValueError as exc:
            reasons.append(_reason(rule, bad_value, str(exc)))

    return step


def _reason(rule: Rule, reason: str, message: str) -> Reason:
    return {"field": rule.target, "column": rule.source, "reason": reason, "message": message}


def compile_mapping(base: Mapping[str, Any], override: Mapping[str, Any] | None) -> RecordMapping:
    return RecordMapping(deep_merge(base, override or {}))
