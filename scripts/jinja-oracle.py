#!/usr/bin/env python3
"""Renders Sluice's template corpus with Python Jinja2 the way Prefect renders run-deployment parameters.

Input: JSON Lines on stdin, one case a line: {"name": ..., "parameters": {...}, "context": {...}}.
Output: JSON Lines on stdout, one a case, in order: {"name": ..., "result": {...}} or {"name": ..., "error": "..."}.
With --bench N: renders every case N times and prints {"renders": R, "seconds": S} instead; --bench-cached N
the same with each template compiled once (Environment.from_string cached by source), which Prefect does not do.

The environment and the rendering rule follow Prefect (prefect/server/utilities/user_templates.py,
prefect/server/events/actions.py `_upgrade_v1_templates`, prefect/utilities/schema_tools/hydration.py):
ImmutableSandboxedEnvironment, ChainableUndefined, `range` limited to 100 items, at most 10 for loops
nested at most 2 deep, `tojson` with sorted keys. Written for Sluice; it imports only jinja2 (3.1.6).
"""

import copy
import json
import sys
import time

import jinja2
from jinja2 import ChainableUndefined, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

RANGE_MAX = 100
LOOP_COUNT_MAX = 10
LOOP_DEPTH_MAX = 2


def limited_range(*args):
    result = range(*args)
    if len(result) > RANGE_MAX:
        raise OverflowError(f"Range too big. The sandbox blocks ranges larger than MAX_TEMPLATE_RANGE={RANGE_MAX}.")
    return result


ENVIRONMENT = ImmutableSandboxedEnvironment(undefined=ChainableUndefined)
ENVIRONMENT.globals["range"] = limited_range


class InvalidTemplate(Exception):
    pass


class Remove:
    pass


def maybe_template(text):
    return "{{" in text or "{%" in text


def loop_depth(node, depth=0):
    if isinstance(node, nodes.For):
        depth += 1
    children = list(node.iter_child_nodes())
    if not children:
        return depth
    return max(loop_depth(child, depth) for child in children)


def validate(template):
    try:
        root = ENVIRONMENT.parse(template)
    except jinja2.TemplateSyntaxError as error:
        raise InvalidTemplate(f"Invalid jinja: {error}")
    loops = list(root.find_all(nodes.For))
    if len(loops) > LOOP_COUNT_MAX:
        raise InvalidTemplate("too many for loops")
    if loops and max(loop_depth(loop) for loop in loops) > LOOP_DEPTH_MAX:
        raise InvalidTemplate("for loops nested too deep")


COMPILED = {}
CACHE_COMPILED = False


def render_template(template, context):
    if not maybe_template(template):
        return template
    try:
        if CACHE_COMPILED:
            compiled = COMPILED.get(template)
            if compiled is None:
                compiled = COMPILED[template] = ENVIRONMENT.from_string(template)
            return compiled.render(context)
        return ENVIRONMENT.from_string(template).render(context)
    except Exception as error:  # Prefect wraps every failure as TemplateRenderError
        raise InvalidTemplate(f"Invalid jinja: {error!r}")


def wrap_v1(template):
    stripped = template.strip()
    if stripped.startswith("{{") and stripped.endswith("}}") and stripped.count("{{") == 1:
        inner = stripped[2:-2].strip()
        return {"__prefect_kind": "json", "value": {"__prefect_kind": "jinja", "template": "{{ " + inner + " | tojson }}"}}
    return {"__prefect_kind": "jinja", "template": template}


def upgrade_v1(parameters):
    for key, value in parameters.items():
        if isinstance(value, dict):
            if "__prefect_kind" in value:
                continue
            upgrade_v1(value)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    upgrade_v1(item)
                elif isinstance(item, str) and maybe_template(item):
                    value[index] = wrap_v1(item)
        elif isinstance(value, str) and maybe_template(value):
            parameters[key] = wrap_v1(value)


def hydrate(value, context):
    if isinstance(value, dict) and "__prefect_kind" in value:
        kind = value["__prefect_kind"]
        if kind == "none":
            if "value" not in value:
                raise InvalidTemplate("Missing 'value' key in __prefect object")
            return hydrate(value["value"], context)
        if kind == "json":
            if "value" not in value:
                return Remove()
            inner = hydrate(value["value"], context) if isinstance(value["value"], dict) else value["value"]
            if isinstance(inner, Remove) or not isinstance(inner, str):
                return inner
            try:
                return json.loads(inner)
            except (json.JSONDecodeError, TypeError) as error:
                raise InvalidTemplate(f"Invalid JSON: {error}")
        if kind == "jinja":
            if "template" not in value:
                raise InvalidTemplate("Missing 'template' key in __prefect object")
            template = hydrate(value["template"], context) if isinstance(value["template"], dict) else value["template"]
            if isinstance(template, Remove):
                return template
            if not isinstance(template, str):
                raise InvalidTemplate("Invalid jinja: the template must be a string")
            validate(template)
            return render_template(template, context)
        if kind == "workspace_variable":
            if "variable_name" not in value:
                return Remove()
            raise InvalidTemplate("workspace variables are not supported")
        return value.get("value", None)
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            hydrated = hydrate(item, context)
            if not isinstance(hydrated, Remove):
                result[key] = hydrated
        return result
    if isinstance(value, list):
        return [hydrated for hydrated in (hydrate(item, context) for item in value) if not isinstance(hydrated, Remove)]
    return value


def render_parameters(parameters, context):
    parameters = copy.deepcopy(parameters)
    upgrade_v1(parameters)
    result = hydrate(parameters, context)
    return {} if isinstance(result, Remove) else result


def main():
    cases = [json.loads(line) for line in sys.stdin if line.strip()]
    if len(sys.argv) > 2 and sys.argv[1] in ("--bench", "--bench-cached"):
        global CACHE_COMPILED
        CACHE_COMPILED = sys.argv[1] == "--bench-cached"
        rounds = int(sys.argv[2])
        started = time.perf_counter()
        renders = 0
        for _ in range(rounds):
            for case in cases:
                try:
                    render_parameters(case["parameters"], case["context"])
                except Exception:
                    pass
                renders += 1
        print(json.dumps({"renders": renders, "seconds": time.perf_counter() - started}))
        return
    for case in cases:
        try:
            result = render_parameters(case["parameters"], case["context"])
            text = json.dumps(result, allow_nan=False, ensure_ascii=False)
            print(json.dumps({"name": case["name"], "result": json.loads(text)}, ensure_ascii=False))
        except Exception as error:
            print(json.dumps({"name": case["name"], "error": f"{type(error).__name__}: {error}"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
