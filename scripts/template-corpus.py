#!/usr/bin/env python3
"""Writes fixtures/templates/corpus.jsonl: Sluice's cross-check corpus of parameter templates and contexts.

Each line is {"name", "parameters", "context"}; scripts/jinja-oracle.py renders them with Python Jinja2
the way Prefect does, and SluiceCore's ParameterTemplates must give identical output (TemplateCorpusTests).
Deterministic: running it again writes the same file.
"""

import json
import os

NODE_CREATED = {
    "event": {
        "id": "8f3c2a4e-0c53-4e0f-9b7e-2f1d6c1a9e01",
        "event": "infrahub.node.created",
        "occurred": "2025-03-13 16:44:32.321142+00:00",
        "resource": {
            "prefect.resource.id": "infrahub.node.1812e8d8-a2f5-4a7c-b8c1-c5ad4f1d8a10",
            "infrahub.node.kind": "InfraDevice",
            "infrahub.node.id": "1812e8d8-a2f5-4a7c-b8c1-c5ad4f1d8a10",
            "infrahub.node.action": "created",
            "infrahub.branch.name": "main",
        },
        "related": [
            {"prefect.resource.id": "infrahub.branch.main", "prefect.resource.role": "infrahub.branch",
             "infrahub.resource.label": "main"},
            {"prefect.resource.id": "infrahub.account.5e7a", "prefect.resource.role": "infrahub.account",
             "infrahub.resource.label": "admin"},
        ],
        "payload": {
            "data": {
                "kind": "InfraDevice",
                "node_id": "1812e8d8-a2f5-4a7c-b8c1-c5ad4f1d8a10",
                "action": "created",
                "changelog": {
                    "node_id": "1812e8d8-a2f5-4a7c-b8c1-c5ad4f1d8a10",
                    "node_kind": "InfraDevice",
                    "display_label": "atl1-edge1 <core>",
                    "attributes": {
                        "name": {"name": "name", "value": "atl1-edge1", "value_previous": None, "kind": "Text"},
                        "asn": {"name": "asn", "value": 64512, "value_previous": 64500, "kind": "Number"},
                        "mtu": {"name": "mtu", "value": 1500.5, "value_previous": None, "kind": "Number"},
                    },
                    "relationships": {},
                },
                "fields": ["name", "asn", "mtu"],
            },
            "context": {"branch": {"name": "main", "id": "b1"}, "account": {"id": "5e7a"}},
        },
    },
    "automation": {"name": "device-created", "posture": "Reactive", "threshold": 1, "within": 0},
}

MEMBERS_ADDED = {
    "event": {
        "id": "0b7d1e52-4f0e-4d8e-9a53-6c8f1f7e2b11",
        "event": "infrahub.group.member_added",
        "occurred": "2025-03-14 09:00:00+00:00",
        "resource": {
            "prefect.resource.id": "infrahub.node.g1",
            "infrahub.node.kind": "CoreStandardGroup",
            "infrahub.node.id": "g1",
            "infrahub.branch.name": "feature-x",
        },
        "related": [],
        "payload": {
            "data": {
                "members": [
                    {"id": "m1", "kind": "InfraDevice", "name": "spine1"},
                    {"id": "m2", "kind": "InfraDevice", "name": "leaf2"},
                    {"id": "m3", "kind": "InfraInterface", "name": "eth0"},
                ],
                "ancestors": [],
            },
        },
    },
    "automation": {"name": "group-generator"},
}

GITHUB_PUSH = {
    "event": {
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "event": "github.push",
        "occurred": "2025-04-01 12:30:00.500000+00:00",
        "resource": {
            "prefect.resource.id": "github.repository.acme/site",
            "github.repository": "acme/site",
            "github.ref": "refs/heads/feature/Login-Page",
            "github.branch": "feature/Login-Page",
            "github.sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
        },
        "related": [],
        "payload": {
            "ref": "refs/heads/feature/Login-Page",
            "before": "0000000000000000000000000000000000000000",
            "commits": [
                {"id": "a1", "message": "Add <login> & 'signup'", "author": {"name": "Ana", "email": "ana@example.com"},
                 "added": ["login.html"], "removed": [], "modified": ["index.html", "app.js"]},
                {"id": "b2", "message": "Fix typo\n\nDetails here", "author": {"name": "Bo", "email": "bo@example.com"},
                 "added": [], "removed": ["old.css"], "modified": []},
            ],
            "pusher": {"name": "ana", "email": None},
            "forced": False,
            "size": 2,
            "ratio": 0.25,
            "big": 12345678901234567890,
            "unicode": "Zürich ☃ 🚀",
            "empty": {},
            "none": [],
            "tags": ["b", "A", "c", "a"],
            "numbers": [3, 1.5, -2, 10],
            "items": "a key named items",
        },
    },
    "automation": {"name": "preview"},
    "firing": {"count": 3, "window_start": "2025-04-01 12:00:00+00:00", "triggering_labels": {"github.repository": "acme/site"}},
}

CONTEXTS = {"node": NODE_CREATED, "members": MEMBERS_ADDED, "push": GITHUB_PUSH}

cases = []


def case(name, parameters, context="node"):
    cases.append({"name": name, "parameters": parameters, "context": CONTEXTS[context]})


def single(name, template, context="node"):
    case(name, {"value": template}, context)


def jinja(name, template, context="node"):
    case(name, {"value": {"__prefect_kind": "jinja", "template": template}}, context)


# Seed 000 "Parameter Templating" and spec §b.1 / §c.9 / §c.10: the parameters Infrahub writes.
case("spec-b1-webhook-process", {
    "webhook_id": "w1", "webhook_name": "hook", "webhook_kind": "CoreStandardWebhook",
    "branch_name": {"__prefect_kind": "jinja", "template": "{{ event.resource['infrahub.branch.name'] }}"},
    "event_id": {"__prefect_kind": "jinja", "template": "{{ event.id }}"},
    "event_type": {"__prefect_kind": "jinja", "template": "{{ event.event }}"},
    "event_occured_at": {"__prefect_kind": "jinja", "template": "{{ event.occurred }}"},
    "event_payload": {"__prefect_kind": "json", "value": {"__prefect_kind": "jinja", "template": "{{ event.payload | tojson }}"}},
})
case("spec-c9-webhook-configure", {
    "event_type": "{{ event.event }}",
    "event_data": "{{ event.payload['data'] | tojson }}",
})
case("spec-c10-run-generator", {
    "branch_name": "{{ event.resource['infrahub.branch.name'] }}",
    "generator_definition_id": "gd1",
    "node_ids": ["{{ event.resource['infrahub.node.id'] }}"],
    "context": {"__prefect_kind": "json", "value": {"__prefect_kind": "jinja", "template": "{{ event.payload['context'] | tojson }}"}},
})
case("spec-c10-group-event", {
    "branch_name": "{{ event.resource['infrahub.branch.name'] }}",
    "generator_definition_id": "gd2",
    "members": "{{ event.payload['data']['members'] | tojson }}",
}, "members")
case("spec-c10-group-action", {
    "branch_name": {"__prefect_kind": "jinja", "template": "{{ event.resource['infrahub.branch.name'] }}"},
    "group_id": "grp", "node_id": {"__prefect_kind": "jinja", "template": "{{ event.resource['infrahub.node.id'] }}"},
})
single("seed-node-id", "{{ event.resource['infrahub.node.id'] }}")
single("seed-members-tojson", "{{ event.payload['data']['members'] | tojson }}", "members")
single("seed-event-id", "{{ event.id }}")
single("seed-occurred", "{{ event.occurred }}")

# Access: attribute and item, fallbacks, undefined chains.
for name, template in [
    ("attr-chain", "{{ event.payload.data.kind }}"),
    ("item-chain", "{{ event['payload']['data']['node_id'] }}"),
    ("mixed-chain", "{{ event.payload['data'].changelog['attributes'].asn.value }}"),
    ("number-keeps-type", "{{ event.payload.data.changelog.attributes.asn.value }}"),
    ("float-keeps-type", "{{ event.payload.data.changelog.attributes.mtu.value }}"),
    ("null-keeps-type", "{{ event.payload.data.changelog.attributes.name.value_previous }}"),
    ("object-keeps-type", "{{ event.payload.context }}"),
    ("list-keeps-type", "{{ event.payload.data.fields }}"),
    ("missing-key", "{{ event.payload.nothing }}"),
    ("missing-chain", "{{ event.payload.nothing.deeper['x'].y }}"),
    ("missing-in-text", "a{{ event.payload.nothing.deeper }}b"),
    ("missing-name", "[{{ nobody }}]"),
    ("index-list", "{{ event.related[0]['infrahub.resource.label'] }}"),
    ("index-negative", "{{ event.related[-1]['prefect.resource.role'] }}"),
    ("index-out-of-range", "<{{ event.related[5] }}>"),
    ("dot-index", "{{ event.related.1['infrahub.resource.label'] }}"),
    ("string-index", "{{ event.event[0] }}{{ event.event[-1] }}"),
    ("slice-list", "{{ event.payload.data.fields[1:] }}"),
    ("slice-string", "{{ event.event[9:13] }}"),
    ("slice-step", "{{ event.event[::-1] }}"),
    ("slice-step-2", "{{ event.payload.data.fields[::2] | tojson }}"),
    ("dict-method-get", "{{ event.payload.data.get('kind') }}"),
    ("dict-method-get-default", "{{ event.payload.data.get('missing', 'dflt') }}"),
    ("dict-method-get-none", "{{ event.payload.data.get('missing') }}"),
    ("dict-keys-list", "{{ event.payload.context.keys() | list }}"),
    ("dict-values-list", "{{ event.payload.context.branch.values() | list }}"),
    ("key-named-items-item", "{{ event.payload['items'] }}"),
    ("underscore-internal", "[{{ event.__class__ }}]"),
    ("underscore-key-ok", "{{ {'_x': 1}._x }}"),
    ("undefined-default-chain", "{{ event.payload.a.b.c | default('fallback') }}"),
    ("bracket-key-with-dots", "{{ event.resource['infrahub.node.kind'] }}"),
]:
    single(name, template, "push" if "items" in name else "node")

# Literals and arithmetic.
for name, template in [
    ("int-literal", "{{ 42 }}"),
    ("int-underscore", "{{ 1_000_000 }}"),
    ("float-literal", "{{ 3.14 }}"),
    ("float-exp", "{{ 1e3 }}"),
    ("float-tiny", "{{ 0.0001 }}"),
    ("float-tinier", "{{ 0.00001 }}"),
    ("float-big", "{{ 1e16 }}"),
    ("float-big-text", "x{{ 1e16 }}"),
    ("float-less-big-text", "x{{ 1e15 }}"),
    ("float-neg-exp-text", "x{{ 1.5e-7 }}"),
    ("string-single", "{{ 'it''s' }}"),
    ("string-double", '{{ "say \\"hi\\"" }}'),
    ("string-escapes", "{{ 'a\\tb\\nc' }}"),
    ("string-unicode-escape", "{{ '\\u00e9t\\u00e9' }}"),
    ("bools", "{{ true }} {{ False }} {{ none }} {{ None }}"),
    ("bool-json", "{{ true }}"),
    ("none-json", "{{ none }}"),
    ("list-literal", "{{ [1, 'two', 3.0, none, true] }}"),
    ("list-literal-text", "x{{ [1, 'two', 3.0, none, true] }}"),
    ("tuple-literal-text", "x{{ (1, 'a') }}"),
    ("tuple-single-text", "x{{ (1,) }}"),
    ("tuple-json", "{{ (1, 2) }}"),
    ("dict-literal", "{{ {'b': 1, 'a': [2, 3]} }}"),
    ("dict-literal-text", "x{{ {'b': 1, 'a': [2, 3]} }}"),
    ("add", "{{ 1 + 2 }}"),
    ("sub", "{{ 1 - 5 }}"),
    ("mul", "{{ 6 * 7 }}"),
    ("div", "{{ 7 / 2 }}"),
    ("div-exact", "{{ 8 / 2 }}"),
    ("floordiv", "{{ 7 // 2 }}"),
    ("floordiv-neg", "{{ -7 // 2 }}"),
    ("mod", "{{ 7 % 3 }}"),
    ("mod-neg", "{{ -7 % 3 }}"),
    ("float-mod", "{{ 7.5 % 2 }}"),
    ("float-floordiv", "{{ -7.5 // 2 }}"),
    ("pow", "{{ 2 ** 10 }}"),
    ("pow-left-assoc", "{{ 2 ** 3 ** 2 }}"),
    ("pow-negative", "{{ 2 ** -1 }}"),
    ("precedence", "{{ 2 + 3 * 4 - 10 / 4 }}"),
    ("parens", "{{ (2 + 3) * 4 }}"),
    ("unary-minus", "{{ -event.payload.data.changelog.attributes.asn.value }}"),
    ("unary-minus-filter", "{{ -3 | abs }}"),
    ("float-sum", "{{ 0.1 + 0.2 }}"),
    ("float-repr-third", "{{ 1 / 3 }}"),
    ("int-plus-float", "{{ 1 + 1.0 }}"),
    ("bool-arith", "{{ true + 1 }}"),
    ("string-concat-plus", "{{ 'a' + 'b' }}"),
    ("string-repeat", "{{ 'ab' * 3 }}"),
    ("list-concat", "{{ [1] + [2, 3] }}"),
    ("tilde-concat", "{{ event.event ~ '/' ~ event.payload.data.kind }}"),
    ("tilde-number", "{{ 1 ~ 2 }}"),
    ("tilde-none-undefined", "{{ none ~ '|' ~ missing ~ '|' }}"),
    ("div-zero", "{{ 1 / 0 }}"),
    ("add-str-int-error", "{{ 'a' + 1 }}"),
    ("undefined-arith-error", "{{ missing + 1 }}"),
    ("big-int-from-json", "{{ event.payload.big }}"),
    ("big-int-text", "x{{ event.payload.big }}"),
]:
    jinja(name, template, "push" if "big" in name else "node")
    # The same as a plain string: one expression goes through `| tojson` (Prefect's upgrade), which binds
    # tighter than the operators, so most of these fail in Prefect too; they must fail the same way.
    single("bare-" + name, template, "push" if "big" in name else "node")

# Comparisons, logic, membership, conditional expressions.
for name, template in [
    ("eq", "{{ 1 == 1.0 }}"),
    ("ne", "{{ 'a' != 'b' }}"),
    ("lt-str", "{{ 'B' < 'a' }}"),
    ("chain-compare", "{{ 1 < 2 < 3 }}"),
    ("chain-compare-false", "{{ 1 < 3 < 2 }}"),
    ("compare-list", "{{ [1, 2] < [1, 3] }}"),
    ("compare-type-error", "{{ 1 < 'a' }}"),
    ("and-or-values", "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ '' and 'z' }}"),
    ("or-default-json", "{{ event.payload.missing or 'fallback' }}"),
    ("not", "{{ not event.payload.data.fields }}"),
    ("in-list", "{{ 'asn' in event.payload.data.fields }}"),
    ("not-in-list", "{{ 'x' not in event.payload.data.fields }}"),
    ("in-string", "{{ 'node' in event.event }}"),
    ("in-dict", "{{ 'kind' in event.payload.data }}"),
    ("cond-expr", "{{ 'main' if event.resource['infrahub.branch.name'] == 'main' else 'other' }}"),
    ("cond-expr-no-else", "[{{ 'yes' if false }}]"),
    ("cond-expr-nested", "{{ 'a' if false else 'b' if true else 'c' }}"),
    ("cond-expr-tojson-quirk", "{{ event.payload.data.kind if true else 'x' }}"),
    ("undefined-eq", "{{ missing == missing }} {{ missing == none }}"),
]:
    jinja(name, template)
    single("bare-" + name, template)

# Filters.
for name, template, context in [
    ("tojson-sorted", "x{{ event.payload.data.changelog.attributes | tojson }}", "node"),
    ("tojson-html-safe", "x{{ event.payload.commits[0].message | tojson }}", "push"),
    ("tojson-unicode", "x{{ event.payload.unicode | tojson }}", "push"),
    ("tojson-indent", "x{{ event.payload.context | tojson(2) }}", "node"),
    ("tojson-indent-kw", "x{{ {'a': [1, {'b': none}], 'c': {}} | tojson(indent=4) }}", "node"),
    ("tojson-undefined-error", "{{ missing | tojson }}", "node"),
    ("tojson-float", "x{{ [1.0, 2.5, 1e20, 0.1] | tojson }}", "node"),
    ("default-defined", "{{ event.event | default('x') }}", "node"),
    ("default-missing", "{{ event.nope | default('x') }}", "node"),
    ("default-empty-no-boolean", "[{{ '' | default('x') }}]", "node"),
    ("default-empty-boolean", "{{ '' | default('x', true) }}", "node"),
    ("default-none-boolean-kw", "{{ none | default('x', boolean=true) }}", "node"),
    ("d-alias", "{{ missing | d(5) }}", "node"),
    ("default-object", "{{ missing | default({'a': 1}) }}", "node"),
    ("lower", "{{ event.resource['github.branch'] | lower }}", "push"),
    ("upper", "{{ event.resource['github.branch'] | upper }}", "push"),
    ("lower-unicode", "{{ event.payload.unicode | lower }}", "push"),
    ("capitalize", "{{ 'hello WORLD' | capitalize }}", "node"),
    ("title", "{{ 'hello big-world (test) x' | title }}", "node"),
    ("trim", "[{{ '  spaced \\n' | trim }}]", "node"),
    ("trim-chars", "{{ '--x--' | trim('-') }}", "node"),
    ("replace", "{{ event.resource['github.branch'] | replace('/', '-') }}", "push"),
    ("replace-count", "{{ 'aaaa' | replace('a', 'b', 2) }}", "node"),
    ("replace-chain", "{{ event.resource['github.branch'] | lower | replace('/', '-') | replace('_', '-') }}", "push"),
    ("length-list", "{{ event.payload.data.fields | length }}", "node"),
    ("length-string", "{{ event.payload.unicode | length }}", "push"),
    ("length-dict", "{{ event.payload.data | length }}", "node"),
    ("count", "{{ event.payload.commits | count }}", "push"),
    ("length-undefined", "{{ missing | length }}", "node"),
    ("first", "{{ event.payload.data.fields | first }}", "node"),
    ("last", "{{ event.payload.data.fields | last }}", "node"),
    ("first-string", "{{ event.event | first }}", "node"),
    ("first-dict", "{{ event.payload.data | first }}", "node"),
    ("first-empty", "[{{ [] | first }}]", "node"),
    ("first-object-json", "{{ event.payload.commits | first }}", "push"),
    ("join", "{{ event.payload.data.fields | join(', ') }}", "node"),
    ("join-default", "{{ [1, 2, 3] | join }}", "node"),
    ("join-attribute", "{{ event.payload.commits | join(' / ', attribute='author.name') }}", "push"),
    ("join-mixed", "{{ [1, none, 'x', 2.5] | join('|') }}", "node"),
    ("int", "{{ '42' | int }}", "node"),
    ("int-float-string", "{{ '42.9' | int }}", "node"),
    ("int-bad", "{{ 'abc' | int }}", "node"),
    ("int-bad-default", "{{ 'abc' | int(7) }}", "node"),
    ("int-float", "{{ 3.99 | int }}", "node"),
    ("int-negative-float", "{{ -3.99 | int }}", "node"),
    ("int-space", "{{ ' 12 ' | int }}", "node"),
    ("int-filter-underscore", "{{ '1_000' | int }}", "node"),
    ("int-base16", "{{ 'ff' | int(base=16) }}", "node"),
    ("int-none", "{{ none | int }}", "node"),
    ("float", "{{ '2.5' | float }}", "node"),
    ("float-int", "{{ 3 | float }}", "node"),
    ("float-bad", "{{ 'x' | float }}", "node"),
    ("float-exp-string", "{{ '1e3' | float }}", "node"),
    ("string-filter", "{{ 42 | string }}", "node"),
    ("string-filter-list", "{{ [1, 'a'] | string }}", "node"),
    ("string-of-object", "{{ event.payload.context | string }}", "node"),
    ("list-string", "{{ 'abc' | list }}", "node"),
    ("list-dict", "{{ event.payload.context | list }}", "node"),
    ("map-attribute", "{{ event.payload.data.members | map(attribute='name') | list }}", "members"),
    ("map-attribute-join", "{{ event.payload.data.members | map(attribute='id') | join(',') }}", "members"),
    ("map-attribute-default", "{{ event.payload.data.members | map(attribute='missing', default='?') | list }}", "members"),
    ("map-filter", "{{ event.payload.data.fields | map('upper') | list }}", "node"),
    ("map-filter-args", "{{ ['a-b', 'c-d'] | map('replace', '-', '+') | list }}", "node"),
    ("map-nested-attribute", "{{ event.payload.commits | map(attribute='author.email') | list }}", "push"),
    ("map-index-attribute", "{{ [[1, 2], [3, 4]] | map(attribute='1') | list }}", "node"),
    ("selectattr-eq", "{{ event.payload.data.members | selectattr('kind', 'equalto', 'InfraDevice') | map(attribute='name') | list }}", "members"),
    ("selectattr-truthy", "{{ event.payload.commits | selectattr('added') | map(attribute='id') | list }}", "push"),
    ("rejectattr", "{{ event.payload.data.members | rejectattr('kind', '==', 'InfraDevice') | list | tojson }}", "members"),
    ("select-odd", "{{ [1, 2, 3, 4, 5] | select('odd') | list }}", "node"),
    ("reject-none", "{{ [1, none, 2] | reject('none') | list }}", "node"),
    ("select-truthy", "{{ [0, 1, '', 'a', none] | select | list }}", "node"),
    ("select-in", "{{ event.payload.tags | select('in', ['a', 'b']) | list }}", "push"),
    ("selectattr-count", "{{ event.payload.data.members | selectattr('kind', 'eq', 'InfraDevice') | list | length }}", "members"),
    ("round", "{{ 2.567 | round(1) }}", "node"),
    ("round-default", "{{ 2.5 | round }}", "node"),
    ("round-half-even", "{{ 3.5 | round }}", "node"),
    ("round-floor", "{{ 2.567 | round(2, 'floor') }}", "node"),
    ("round-ceil", "{{ 2.561 | round(2, 'ceil') }}", "node"),
    ("round-int", "{{ 7 | round }}", "node"),
    ("round-2675", "{{ 2.675 | round(2) }}", "node"),
    ("abs", "{{ -4.5 | abs }}", "node"),
    ("sum", "{{ event.payload.numbers | sum }}", "push"),
    ("sum-attribute", "{{ [{'n': 1}, {'n': 2.5}] | sum(attribute='n') }}", "node"),
    ("sum-start", "{{ [1, 2] | sum(start=10) }}", "node"),
    ("min", "{{ event.payload.numbers | min }}", "push"),
    ("max", "{{ event.payload.numbers | max }}", "push"),
    ("max-case-insensitive", "{{ event.payload.tags | max }}", "push"),
    ("min-attribute", "{{ (event.payload.data.members | min(attribute='name')).id }}", "members"),
    ("sort", "{{ event.payload.tags | sort }}", "push"),
    ("sort-case-sensitive", "{{ event.payload.tags | sort(case_sensitive=true) }}", "push"),
    ("sort-reverse", "{{ event.payload.numbers | sort(reverse=true) }}", "push"),
    ("sort-attribute", "{{ event.payload.data.members | sort(attribute='name') | map(attribute='id') | join }}", "members"),
    ("sort-multi-attribute", "{{ event.payload.data.members | sort(attribute='kind,name') | map(attribute='name') | list }}", "members"),
    ("sort-mixed-error", "{{ [1, 'a'] | sort }}", "node"),
    ("unique", "{{ event.payload.tags | unique | list }}", "push"),
    ("unique-case-sensitive", "{{ ['a', 'A', 'a'] | unique(case_sensitive=true) | list }}", "node"),
    ("reverse-string", "{{ 'abc' | reverse }}", "node"),
    ("reverse-list", "{{ [1, 2, 3] | reverse | list }}", "node"),
    ("dictsort", "{{ event.payload.context.branch | dictsort }}", "node"),
    ("dictsort-value", "{{ {'b': 1, 'a': 2} | dictsort(by='value') }}", "node"),
    ("items-filter", "{{ event.payload.context.branch | items | list }}", "node"),
    ("escape", "{{ event.payload.commits[0].message | e }}", "push"),
    ("escape-full", "{{ '<a href=\"x\">&\\'</a>' | escape }}", "node"),
    ("safe", "{{ '<b>' | safe }}", "node"),
    ("wordcount", "{{ 'one two  three-four' | wordcount }}", "node"),
    ("truncate", "{{ 'The quick brown fox jumps over the lazy dog' | truncate(20) }}", "node"),
    ("truncate-killwords", "{{ 'The quick brown fox jumps over the lazy dog' | truncate(20, true) }}", "node"),
    ("truncate-short", "{{ 'short' | truncate(20) }}", "node"),
    ("center", "[{{ 'ab' | center(7) }}]", "node"),
    ("attr-filter-dict", "[{{ event.payload | attr('data') }}]", "node"),
    ("filter-chain-tojson", "{{ event.payload.data.fields | map('upper') | list | tojson }}", "node"),
    ("filter-on-group", "{{ (event.payload.data.fields | first) ~ '!' }}", "node"),
    ("unknown-filter", "{{ event.id | nosuchfilter }}", "node"),
]:
    single(name, template, context)

# Tests.
for name, template in [
    ("is-defined", "{{ event.id is defined }}"),
    ("is-undefined", "{{ event.nope is undefined }}"),
    ("is-not-defined", "{{ event.nope is not defined }}"),
    ("is-none", "{{ event.payload.data.changelog.attributes.name.value_previous is none }}"),
    ("is-number", "{{ 1.5 is number }} {{ true is number }} {{ 'x' is number }}"),
    ("is-integer", "{{ 1 is integer }} {{ true is integer }} {{ 1.0 is integer }}"),
    ("is-float", "{{ 1.0 is float }}"),
    ("is-string", "{{ event.id is string }}"),
    ("is-mapping", "{{ event.payload is mapping }} {{ [] is mapping }}"),
    ("is-iterable", "{{ 'x' is iterable }} {{ 1 is iterable }}"),
    ("is-sequence", "{{ [] is sequence }} {{ {} is sequence }}"),
    ("is-boolean", "{{ false is boolean }} {{ 0 is boolean }}"),
    ("is-true-false", "{{ true is true }} {{ 1 is true }} {{ false is false }}"),
    ("is-eq-arg", "{{ 3 is eq 3 }} {{ 3 is eq(4) }}"),
    ("is-gt", "{{ 5 is gt 3 }} {{ 5 is lt(3) }} {{ 5 is ge 5 }} {{ 5 is le 4 }}"),
    ("is-in", "{{ 'a' is in ['a', 'b'] }}"),
    ("is-even-odd", "{{ 4 is even }} {{ 4 is odd }}"),
    ("is-divisibleby", "{{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }}"),
    ("is-lower-upper", "{{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aBc' is lower }}"),
    ("is-sameas", "{{ none is sameas none }} {{ false is sameas false }}"),
    ("is-filter-test", "{{ 'tojson' is filter }} {{ 'nope' is filter }} {{ 'odd' is test }}"),
    ("is-callable", "{{ event.payload.get is callable }}"),
    ("is-escaped", "{{ 'x' is escaped }}"),
    ("unknown-test", "{{ 1 is nosuchtest }}"),
]:
    single(name, template)

# Statements.
for name, template, context in [
    ("if-else", "{% if event.resource['infrahub.branch.name'] == 'main' %}prod{% else %}dev{% endif %}", "node"),
    ("if-elif", "{% if false %}a{% elif event.payload.data.fields | length > 2 %}b{% else %}c{% endif %}", "node"),
    ("if-undefined", "{% if event.nope %}yes{% else %}no{% endif %}", "node"),
    ("if-only-expression-kept", "{% if true %}{{ 5 }}{% endif %}", "node"),
    ("for-basic", "{% for f in event.payload.data.fields %}{{ f }};{% endfor %}", "node"),
    ("for-loop-vars", "{% for f in event.payload.data.fields %}{{ loop.index }}/{{ loop.length }}:{{ f }}{% if not loop.last %},{% endif %}{% endfor %}", "node"),
    ("for-loop-more-vars", "{% for f in 'abc' %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{% endfor %}", "node"),
    ("for-prev-next", "{% for f in [1, 2, 3] %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}", "node"),
    ("for-cycle", "{% for f in [1, 2, 3] %}{{ loop.cycle('odd', 'even') }} {% endfor %}", "node"),
    ("for-dict-items", "{% for k, v in event.payload.context.branch.items() %}{{ k }}={{ v }};{% endfor %}", "node"),
    ("for-dict-keys", "{% for k in event.payload.context %}{{ k }} {% endfor %}", "node"),
    ("for-dictsort", "{% for k, v in event.payload.data.changelog.attributes | dictsort %}{{ k }}:{{ v.value }} {% endfor %}", "node"),
    ("for-else", "{% for x in event.payload.none %}{{ x }}{% else %}empty{% endfor %}", "push"),
    ("for-filter", "{% for m in event.payload.data.members if m.kind == 'InfraDevice' %}{{ loop.index }}{{ m.name }} {% endfor %}", "members"),
    ("for-nested", "{% for c in event.payload.commits %}{% for f in c.modified %}{{ c.id }}:{{ f }} {% endfor %}{% endfor %}", "push"),
    ("for-range", "{% for i in range(3) %}{{ i }}{% endfor %}", "node"),
    ("for-range-step", "{% for i in range(10, 0, -3) %}{{ i }},{% endfor %}", "node"),
    ("range-too-big", "{% for i in range(1000) %}{{ i }}{% endfor %}", "node"),
    ("for-undefined", "[{% for x in missing %}{{ x }}{% endfor %}]", "node"),
    ("for-unpack-error", "{% for a, b in [1, 2] %}{{ a }}{% endfor %}", "node"),
    ("for-string-chars", "{% for ch in 'héllo' %}{{ ch }}.{% endfor %}", "node"),
    ("for-scope", "{% set x = 1 %}{% for i in [1, 2] %}{% set x = i %}{% endfor %}{{ x }}", "node"),
    ("for-loop-depth", "{% for a in [1] %}{% for b in [2] %}{{ loop.depth }}{% endfor %}{% endfor %}", "node"),
    ("too-many-loops", "{% for a in [1] %}{% endfor %}" * 11, "node"),
    ("too-deep-loops", "{% for a in [1] %}{% for b in [1] %}{% for c in [1] %}x{% endfor %}{% endfor %}{% endfor %}", "node"),
    ("set", "{% set kind = event.payload.data.kind | lower %}{{ kind }}-{{ kind | length }}", "node"),
    ("set-tuple", "{% set a, b = 1, 2 %}{{ a + b }}", "node"),
    ("set-block", "{% set body %}id={{ event.id }}{% endset %}[{{ body }}]", "node"),
    ("whitespace-control", "{% for f in event.payload.data.fields -%}\n  {{ f }}\n{%- endfor %}", "node"),
    ("whitespace-control-expr", "a   {{- 'b' -}}   c", "node"),
    ("whitespace-kept", "a\n{% if true %}\nb\n{% endif %}\nc", "node"),
    ("trailing-newline", "line\n", "node"),
    ("trailing-newlines", "line\n\n", "node"),
    ("crlf", "a\r\nb{{ 1 }}\r\n", "node"),
    ("comment", "a{# comment #}b", "node"),
    ("comment-strip", "a {#- comment -#} b{{ 1 }}", "node"),
    ("raw", "{% raw %}{{ not rendered }}{% endraw %}", "node"),
    ("multiline", "Device {{ event.payload.data.changelog.display_label }}\nbranch: {{ event.resource['infrahub.branch.name'] }}\n", "node"),
    ("syntax-error-unclosed", "{{ event.id ", "node"),
    ("syntax-error-block", "{% if true %}x", "node"),
    ("syntax-error-tag", "{% frobnicate %}", "node"),
    ("syntax-error-expr", "{{ 1 + }}", "node"),
    ("endfor-mismatch", "{% for x in [1] %}{% endif %}", "node"),
    ("firing-count", "{{ firing.count }}", "push"),
    ("firing-labels", "{{ firing.triggering_labels['github.repository'] }}", "push"),
    ("automation-name", "automation {{ automation.name }}", "push"),
    ("string-methods", "{{ event.resource['github.ref'].split('/')[-1] }}", "push"),
    ("string-startswith", "{{ event.resource['github.ref'].startswith('refs/heads/') }}", "push"),
    ("string-replace-method", "{{ event.resource['github.ref'].replace('refs/heads/', '') }}", "push"),
    ("string-strip-method", "{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}", "push"),
    ("string-upper-method", "{{ event.event.upper() }}", "push"),
    ("string-join-method", "{{ '-'.join(['a', 'b']) }}", "push"),
    ("string-split-ws", "{{ ' a  b c '.split() }}", "push"),
    ("string-split-max", "{{ 'a/b/c'.split('/', 1) }}", "push"),
    ("string-find", "{{ 'hello'.find('l') }} {{ 'hello'.find('z') }}", "push"),
    ("string-count-method", "{{ 'banana'.count('an') }}", "push"),
    ("removeprefix", "{{ event.resource['github.ref'].removeprefix('refs/heads/') }}", "push"),
    ("list-index-method", "{{ ['a', 'b'].index('b') }}", "push"),
    ("preview-env-name", "pr-{{ event.resource['github.branch'] | lower | replace('/', '-') | truncate(20, true, '') }}", "push"),
    ("commit-summary", "{% for c in event.payload.commits %}{{ c.message.split('\\n')[0] }}{% if not loop.last %}; {% endif %}{% endfor %}", "push"),
    ("modified-files", "{{ event.payload.commits | map(attribute='modified') | sum(start=[]) | unique | list | tojson }}", "push"),
    ("pusher-email-default", "{{ event.payload.pusher.email | default('unknown', true) }}", "push"),
    ("nested-ternary-filter", "{{ (event.payload.forced and 'force') or 'normal' }}", "push"),
    ("dict-in-text", "payload={{ {'branch': event.resource['github.branch'], 'n': event.payload.size} | tojson }}", "push"),
    ("repr-unicode-list", "x{{ [event.payload.unicode, \"it's\"] }}", "push"),
    ("repr-nested-dict", "x{{ event.payload.commits[1] }}", "push"),
    ("ratio", "{{ event.payload.ratio * 100 }}%", "push"),
    ("method-print-error", "{{ event.payload.get }}", "push"),
    ("unsafe-mutation", "{{ event.payload.tags.append }}", "push"),
    ("unsafe-mutation-call", "{{ event.payload.tags.append(1) }}", "push"),
    ("unicode-text", "Zürich ☃ {{ event.payload.unicode }} 🚀", "push"),
    ("empty-object-list", "{{ event.payload.empty }} {{ event.payload.none }}", "push"),
]:
    single(name, template, context)

# Explicit kinds, nesting, and the upgrade rules.
case("kind-jinja-one-expression-stays-string", {"v": {"__prefect_kind": "jinja", "template": "{{ event.payload.size }}"}}, "push")
case("kind-json-of-jinja", {"v": {"__prefect_kind": "json", "value": {"__prefect_kind": "jinja", "template": "{{ event.payload.numbers | tojson }}"}}}, "push")
case("kind-json-static-string", {"v": {"__prefect_kind": "json", "value": "{\"a\": [1, 2.50, 1E2]}"}}, "push")
case("kind-json-static-number", {"v": {"__prefect_kind": "json", "value": 5}}, "push")
case("kind-json-without-value-removed", {"a": 1, "v": {"__prefect_kind": "json"}, "l": [1, {"__prefect_kind": "json"}, 2]}, "push")
case("kind-none", {"v": {"__prefect_kind": "none", "value": {"x": "{{ event.id }}"}}}, "push")
case("kind-unknown", {"v": {"__prefect_kind": "other", "value": "{{ raw }}"}}, "push")
case("kind-json-invalid", {"v": {"__prefect_kind": "json", "value": {"__prefect_kind": "jinja", "template": "not json {{ event.id }}"}}}, "push")
case("kind-jinja-missing-template", {"v": {"__prefect_kind": "jinja"}}, "push")
case("nested-objects", {"outer": {"inner": {"id": "{{ event.id }}", "n": "{{ event.payload.size }}", "lit": 1}}, "flat": True}, "push")
case("array-of-strings", {"ids": ["{{ event.id }}", "literal", "x{{ event.payload.size }}", "{{ event.payload.size }}"]}, "push")
case("array-in-array-not-upgraded", {"v": [["{{ event.id }}"], "{{ event.payload.size }}"]}, "push")
case("array-of-objects", {"v": [{"id": "{{ event.id }}"}, {"n": 1}]}, "push")
case("literal-only", {"a": 1, "b": [True, None], "c": {"d": "no template here"}, "e": 1.50}, "push")
case("comment-only-not-template", {"v": "text {# not a template #} here"}, "push")
case("whitespace-around-expression", {"v": "  {{ event.payload.size }}\n"}, "push")
case("two-expressions", {"v": "{{ event.payload.size }}{{ event.payload.size }}"}, "push")
case("expression-then-text", {"v": "{{ event.payload.size }} items"}, "push")
case("block-only", {"v": "{% if true %}1{% endif %}"}, "push")
case("triple-brace", {"v": "{{{ 'a': 1 }}}"}, "push")
case("tojson-already", {"v": "{{ event.payload.commits | tojson }}"}, "push")
case("string-value-json-type", {"v": "{{ event.payload.unicode }}"}, "push")
case("bool-value-json-type", {"v": "{{ event.payload.forced }}"}, "push")
case("expression-with-filter-json", {"v": "{{ event.payload.tags | sort | first }}"}, "push")
case("many-parameters", {
    "repository": "{{ event.resource['github.repository'] }}",
    "branch": "{{ event.resource['github.branch'] }}",
    "sha": "{{ event.resource['github.sha'][:7] }}",
    "environment": "preview-{{ event.resource['github.branch'] | lower | replace('/', '-') }}",
    "commits": "{{ event.payload.commits | length }}",
    "authors": "{{ event.payload.commits | map(attribute='author.name') | unique | list }}",
    "forced": "{{ event.payload.forced }}",
    "firing": "{{ firing }}",
}, "push")

if __name__ == "__main__":
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "fixtures", "templates", "corpus.jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    with open(path, "w", encoding="utf-8") as output:
        for item in cases:
            output.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{len(cases)} cases -> {path}")
