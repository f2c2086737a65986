"""Casbin, partitioned: a small enforcer per owning tenant, its ``p`` rules indexed.

Plain ``casbin.Enforcer.enforce`` re-parses the matcher and evaluates it against every
policy line on every call. Two changes keep Casbin the judge while making a decision cost
a handful of matcher evaluations, however many tenants there are:

* ``IndexedPolicy`` replaces the ``p`` rule list (as Casbin's own ``FastPolicy`` does) and,
  for one request, exposes only the rules that could match it: same record type or "*",
  same process or "*", same action — in priority order (process grants, process denials,
  baseline). Casbin's matcher, effector and role manager then decide over those few.
* ``PartitionEnforcer`` parses the matcher once (pycasbin parses it on every call, which
  alone costs more than the rest of a decision) and uses the same parsed form each time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import casbin
from casbin.model import Model
from casbin.util.expression import SimpleEval
from pydantic_settings import BaseSettings, SettingsConfigDict

from accord.platform.errors import AccordError, ErrorCode
from accord.policies.vocab import ANY

MODEL_PATH = Path(__file__).with_name("model.conf")
MODEL_TEXT = MODEL_PATH.read_text(encoding="utf-8")
#: The sections Accord's compiled rules and the rule index are written for.
_FIXED_SECTIONS = ("r", "p", "g", "e")


class PolicyModelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACCORD_", extra="ignore")
    policy_model: Path | None = None


@lru_cache(maxsize=1)
def model_text() -> str:
    """The Casbin model in force: ``ACCORD_POLICY_MODEL``'s file (a deployment mounts its
    ConfigMap there) or the packaged ``model.conf``.

    A deployed model may narrow the matcher; its request, policy, role and effect
    definitions must be the packaged ones (the RACI compiler writes rules for them and the
    rule index relies on them), or nothing is decided with it.
    """
    path = PolicyModelSettings().policy_model
    if path is None:
        return MODEL_TEXT
    try:
        text = path.read_text(encoding="utf-8")
        deployed, packaged = Model(), Model()
        deployed.load_model_from_text(text)
        packaged.load_model_from_text(MODEL_TEXT)
    except Exception as exc:
        raise AccordError(
            f"The policy model {path} cannot be read as a Casbin model: {exc}",
            reason="POLICY_MODEL_INVALID",
            code=ErrorCode.INTERNAL,
        ) from exc
    for section in _FIXED_SECTIONS:
        if _definitions(deployed, section) != _definitions(packaged, section):
            raise AccordError(
                f"The policy model {path} changes the [{section}] definition; Accord's "
                f"rules are compiled for {_definitions(packaged, section)}.",
                reason="POLICY_MODEL_INCOMPATIBLE",
                code=ErrorCode.INTERNAL,
            )
    return text


def _definitions(model: Model, section: str) -> dict[str, str]:
    return {key: assertion.value for key, assertion in model.model.get(section, {}).items()}


# Positions in a ``p`` rule: sub, dom, obj, proc, act, eft.
SUB, DOM, OBJ, PROC, ACT, EFT = range(6)
BucketKey = tuple[str, str, str]
Rule = tuple[str, ...]
_MAX_VIEWS = 4096


class IndexedPolicy:
    """The ``p`` rules of one domain, bucketed by (record type, process, action)."""

    def __init__(self) -> None:
        self._buckets: dict[BucketKey, list[Rule]] = {}
        self._count = 0
        self._views: dict[BucketKey, list[Rule]] = {}
        self._view: list[Rule] | None = None

    def append(self, rule: Sequence[str]) -> None:
        row = tuple(rule)
        bucket = self._buckets.setdefault((row[OBJ], row[PROC], row[ACT]), [])
        if row[EFT] == "allow":
            # Grants precede denials of the same process: the R/A parties keep the
            # governed action, everyone else meets the denial.
            at = next((i for i, r in enumerate(bucket) if r[EFT] != "allow"), len(bucket))
            bucket.insert(at, row)
        else:
            bucket.append(row)
        self._count += 1
        self._views.clear()

    def remove(self, rule: Sequence[str]) -> None:
        row = tuple(rule)
        bucket = self._buckets.get((row[OBJ], row[PROC], row[ACT]), [])
        if row in bucket:
            bucket.remove(row)
            self._count -= 1
            self._views.clear()

    def bucket(self, obj: str, proc: str, act: str) -> list[Rule]:
        return self._buckets.get((obj, proc, act), [])

    def candidates(self, obj: str, proc: str, act: str) -> list[Rule]:
        """The rules that can match a request for (obj, proc, act), in priority order."""
        key = (obj, proc, act)
        view = self._views.get(key)
        if view is None:
            view = [
                *(self.bucket(obj, proc, act) if proc != ANY else ()),
                *self.bucket(obj, ANY, act),
                *self.bucket(ANY, ANY, act),
            ]
            if len(self._views) >= _MAX_VIEWS:
                self._views.clear()
            self._views[key] = view
        return view

    def select(self, obj: str, proc: str, act: str) -> None:
        self._view = self.candidates(obj, proc, act)

    def release(self) -> None:
        self._view = None

    def _rules(self) -> Iterable[Rule]:
        if self._view is not None:
            return self._view
        return (r for bucket in self._buckets.values() for r in bucket)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self._rules())

    def __len__(self) -> int:
        return len(self._view) if self._view is not None else self._count

    def __getitem__(self, index: int) -> Rule:
        if self._view is not None:
            return self._view[index]
        return list(self._rules())[index]

    def __contains__(self, rule: object) -> bool:
        if not isinstance(rule, list | tuple) or len(rule) != EFT + 1:
            return False
        return tuple(rule) in self.bucket(rule[OBJ], rule[PROC], rule[ACT])


@lru_cache(maxsize=16)
def _parsed_matcher(expr: str) -> tuple[str, Any]:
    # Casbin's own rewriting (&& → and, …) and parse, done once per matcher text.
    evaluator = casbin.Enforcer._get_expression(expr, None)
    return evaluator.expr, evaluator.ast_parsed_value


def domain_matches(request_domain: str, link_domain: str) -> bool:
    """Links in domain "*" (memberships, tenant-role hierarchy) hold in every domain."""
    return link_domain in (ANY, request_domain)


class PartitionEnforcer(casbin.Enforcer):  # type: ignore[misc]
    """One owning tenant's enforcer: Casbin's matcher over that tenant's indexed rules."""

    def __init__(
        self, domain: str, rules: Iterable[Sequence[str]], links: Iterable[Sequence[str]]
    ) -> None:
        model = Model()
        model.load_model_from_text(model_text())
        super().__init__(model)
        self.add_named_domain_matching_func("g", domain_matches)
        # DomainManager installs an equality "pattern" function by default, which makes
        # every new name scan all roles; plain names need none.
        self.add_named_matching_func("g", None)
        self.indexed = IndexedPolicy()
        for rule in rules:
            self.indexed.append(rule)
        self.model.model["p"]["p"].policy = self.indexed
        self.model.model["g"]["g"].policy = [list(link) for link in links]
        self.build_role_links()
        # Casbin builds a domain's role graph on first use; build it now, not in a decision.
        self.get_roles_for_user_in_domain(ANY, domain)
        self._evaluators: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _get_expression(self, expr: str, functions: Any = None) -> Any:
        # Called by ``enforce_ex`` under ``self._lock``: one evaluator per matcher text is
        # reused; ``functions`` is the enforcer's own function map, refreshed each call.
        evaluator = self._evaluators.get(expr)
        if evaluator is None:
            text, tree = _parsed_matcher(expr)
            evaluator = SimpleEval("", functions)
            evaluator.expr = text
            evaluator.ast_parsed_value = tree
            self._evaluators[expr] = evaluator
        else:
            evaluator.functions = functions
        return evaluator

    def decide(self, sub: str, dom: str, obj: str, proc: str, act: str) -> tuple[bool, list[str]]:
        """Casbin's decision and the rule that made it (empty when nothing matched)."""
        with self._lock:
            self.indexed.select(obj, proc, act)
            try:
                allowed, rule = self.enforce_ex(sub, dom, obj, proc, act)
            finally:
                self.indexed.release()
        return bool(allowed), list(rule)

    def link(self, child: str, parent: str, domain: str) -> None:
        with self._lock:
            self.add_grouping_policy(child, parent, domain)

    def unlink(self, child: str, parent: str, domain: str) -> None:
        with self._lock:
            self.remove_grouping_policy(child, parent, domain)

    def link_count(self) -> int:
        return len(self.model.model["g"]["g"].policy)
