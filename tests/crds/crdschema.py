"""Offline model of how kube-apiserver treats a custom resource under a CRD schema.

Used by test_crds.py. It covers what the API server does to a keda.sh object before storing it,
closely enough to test our CRD files without a cluster:

- pruning: `prune_errors` walks an object and reports every key the server would drop
  (not declared under `properties`, not under `additionalProperties`, not inside an
  `x-kubernetes-preserve-unknown-fields` subtree);
- validation: `to_json_schema` turns an openAPIV3Schema into a JSON Schema that the `jsonschema`
  package checks (types, formats int32/int64/date-time, enums, minimums, lengths, patterns,
  required), with `additionalProperties: false` wherever the server would prune, so an unknown
  key is an error there too;
- what JSON Schema cannot say: `k8s_extra_errors` checks x-kubernetes-list-type set/map
  uniqueness and evaluates the CEL rules through Python equivalents in `CEL_RULES`;
- defaulting: `default_object` fills defaults in before validation, as the server does;
  `schema_defaults` lists every `default` in a schema.

Errors are reported as (field, message) with field in the API server's notation, for example
`spec.triggers[0].authenticationRef.kind`, so the same expectation can be checked offline and
against a real server.
"""

import copy
import datetime
import re

import jsonschema

# Python equivalents of the CEL rules our CRDs carry, keyed by the rule text with whitespace
# collapsed. A rule missing here fails test_cel_rules_have_offline_equivalents, so no rule is
# ever left unchecked offline.
CEL_RULES = {
    "!has(self.minReplicaCount) || self.minReplicaCount <= "
    "(has(self.maxReplicaCount) ? self.maxReplicaCount : 100)":
        lambda s: "minReplicaCount" not in s
        or s["minReplicaCount"] <= s.get("maxReplicaCount", 100),
}

INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def norm_rule(rule):
    return " ".join(rule.split())


def field_path(parts):
    """['spec', 'triggers', 0, 'type'] -> 'spec.triggers[0].type' (the API server's notation)."""
    out = ""
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out


def _is_object(schema):
    return schema.get("type") == "object"


def _preserves(schema):
    return bool(schema.get("x-kubernetes-preserve-unknown-fields"))


# ---- pruning -------------------------------------------------------------------------------


def prune_errors(obj, schema, parts=(), root=True):
    """Every key of `obj` that the API server would prune under `schema`, as field paths."""
    errors = []
    if isinstance(obj, dict) and _is_object(schema):
        props = schema.get("properties", {})
        addl = schema.get("additionalProperties")
        for key, value in obj.items():
            here = parts + (key,)
            if root and key == "metadata":
                continue  # ObjectMeta is the server's own, never pruned by the CRD schema
            if key in props:
                errors += prune_errors(value, props[key], here, False)
            elif isinstance(addl, dict):
                errors += prune_errors(value, addl, here, False)
            elif addl is True or _preserves(schema):
                continue
            else:
                errors.append(field_path(here))
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            errors += prune_errors(item, schema["items"], parts + (i,), False)
    return errors


# ---- JSON Schema translation ---------------------------------------------------------------

_PASSTHROUGH = (
    "type enum minimum maximum exclusiveMinimum exclusiveMaximum minLength maxLength "
    "minItems maxItems minProperties maxProperties pattern format required"
).split()


def to_json_schema(schema, root=True):
    """openAPIV3Schema -> JSON Schema (draft 2020-12) that rejects what the server would prune."""
    out = {k: copy.deepcopy(schema[k]) for k in _PASSTHROUGH if k in schema}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    for key in ("anyOf", "allOf", "oneOf"):
        if key in schema:
            out[key] = [to_json_schema(s, False) for s in schema[key]]
    if "not" in schema:
        out["not"] = to_json_schema(schema["not"], False)
    if "properties" in schema:
        out["properties"] = {
            k: ({} if root and k == "metadata" else to_json_schema(v, False))
            for k, v in schema["properties"].items()
        }
    if isinstance(schema.get("items"), dict):
        out["items"] = to_json_schema(schema["items"], False)
    addl = schema.get("additionalProperties")
    if isinstance(addl, dict):
        out["additionalProperties"] = to_json_schema(addl, False)
    elif addl is True or _preserves(schema):
        pass
    elif _is_object(schema):
        out["additionalProperties"] = False  # the server prunes undeclared keys here
    if schema.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    return out


def _format_checker():
    checker = jsonschema.FormatChecker(formats=())

    def int_in(fmt):
        lo, hi = INT_RANGES[fmt]
        return lambda v: not isinstance(v, int) or lo <= v <= hi

    checker.checks("int32")(int_in("int32"))
    checker.checks("int64")(int_in("int64"))

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value):
        if isinstance(value, str):
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    return checker


def schema_errors(obj, schema):
    """JSON Schema errors as (field, message); `required` errors name the missing field."""
    validator = jsonschema.Draft202012Validator(
        to_json_schema(schema), format_checker=_format_checker()
    )
    out = []
    for err in validator.iter_errors(obj):
        parts = tuple(err.absolute_path)
        if err.validator == "required":
            missing = re.match(r"'(.+)' is a required property", err.message)
            if missing:
                parts += (missing.group(1),)
        out.append((field_path(parts), err.message))
    return out


# ---- Kubernetes extensions -----------------------------------------------------------------


def k8s_extra_errors(obj, schema, parts=()):
    """List-type set/map uniqueness and CEL rules, which JSON Schema cannot express."""
    errors = []
    if isinstance(obj, dict):
        for rule in schema.get("x-kubernetes-validations", []):
            fn = CEL_RULES.get(norm_rule(rule["rule"]))
            if fn is None:
                errors.append((field_path(parts), f"no offline equivalent for CEL rule {rule['rule']!r}"))
            elif not fn(obj):
                errors.append((field_path(parts), rule.get("message", rule["rule"])))
        props = schema.get("properties", {})
        addl = schema.get("additionalProperties")
        for key, value in obj.items():
            sub = props.get(key) or (addl if isinstance(addl, dict) else None)
            if sub is not None:
                errors += k8s_extra_errors(value, sub, parts + (key,))
    elif isinstance(obj, list):
        kind = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen = []
        for i, item in enumerate(obj):
            if kind == "set":
                ident = item
            elif kind == "map" and isinstance(item, dict):
                ident = tuple(item.get(k) for k in keys)
            else:
                ident = None
            if ident is not None and ident in seen:
                errors.append((field_path(parts + (i,)), f"Duplicate value: {item!r}"))
            seen.append(ident)
            if isinstance(schema.get("items"), dict):
                errors += k8s_extra_errors(item, schema["items"], parts + (i,))
    return errors


def default_object(obj, schema):
    """Copy of `obj` with the schema's defaults filled in, as the server does before validating."""
    if isinstance(obj, dict):
        out = {}
        props = schema.get("properties", {})
        addl = schema.get("additionalProperties")
        for key, value in obj.items():
            sub = props.get(key) or (addl if isinstance(addl, dict) else None)
            out[key] = default_object(value, sub) if sub else copy.deepcopy(value)
        for key, sub in props.items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), dict):
        return [default_object(item, schema["items"]) for item in obj]
    return copy.deepcopy(obj)


def all_errors(obj, schema):
    """Everything the API server would reject or prune, as (field, message) pairs."""
    defaulted = default_object(obj, schema)
    errs = schema_errors(defaulted, schema) + k8s_extra_errors(defaulted, schema)
    errs += [(p, "would be pruned") for p in prune_errors(obj, schema)]
    return errs


# ---- schema walks --------------------------------------------------------------------------


def schema_nodes(schema, path=""):
    """Yield (path, node) for every declared node; arrays as `[]`, map values as `{}`."""
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from schema_nodes(sub, f"{path}.{key}" if path else key)
    if isinstance(schema.get("items"), dict):
        yield from schema_nodes(schema["items"], path + "[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from schema_nodes(schema["additionalProperties"], path + "{}")


def schema_defaults(schema):
    """{path: default} for every `default` in the schema."""
    return {p: n["default"] for p, n in schema_nodes(schema) if "default" in n}


def object_paths(obj, schema, path=""):
    """Yield (schema path, value) for every value of `obj` that `schema` declares."""
    yield path, obj
    if isinstance(obj, dict):
        props = schema.get("properties", {})
        addl = schema.get("additionalProperties")
        for key, value in obj.items():
            if key in props:
                yield from object_paths(value, props[key], f"{path}.{key}" if path else key)
            elif isinstance(addl, dict):
                yield from object_paths(value, addl, path + "{}")
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            yield from object_paths(item, schema["items"], path + "[]")


def apply_defaults(obj, defaults):
    """Copy of `obj` with each dotted-path default set where its parent exists and it is unset."""
    out = copy.deepcopy(obj)
    for path, value in defaults.items():
        *parents, leaf = path.split(".")
        node = out
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and leaf not in node:
            node[leaf] = copy.deepcopy(value)
    return out
