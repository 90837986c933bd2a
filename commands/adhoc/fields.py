"""Registry commands as XEP-0004 data forms: a field per argument, with the argument's
XEP-0122 rules (`commands.validation.rules`, the same the registry checks), and results as
forms of type 'result'."""

from __future__ import annotations

from typing import Any

from commands.registry import Arg, Command
from commands.validation import rules, to_json
from xmppcore import forms


def _default_values(arg: Arg, default: Any) -> list[str]:
    if default is None:
        return []
    if isinstance(default, bool):
        return ["1" if default else "0"]
    if isinstance(default, (list, tuple)):
        return [str(v) for v in default]
    if arg.type == "text":
        return str(default).splitlines()
    return [str(default)]


def arg_field(arg: Arg, domains: list[str], default: Any = None) -> forms.Field:
    """The data form field for one registry argument."""
    t = arg.type
    f = forms.Field(arg.name, label=arg.title, desc=arg.help or None,
                    required=arg.required and arg.default is None)
    if t in ("string", "password"):
        f.type = "text-private" if t == "password" else "text-single"
        if arg.choices:
            f.type, f.options = "list-single", [forms.Option(c) for c in arg.choices]
    elif t == "text":
        f.type = "text-multi"
    elif t in ("int", "datetime"):
        f.type = "text-single"
    elif t == "bool":
        f.type = "boolean"
    elif t == "jid":
        f.type = "jid-single"
    elif t == "jids":
        f.type = "jid-multi"
    elif t in ("list-single", "list-multi"):
        f.type, f.options = t, [forms.Option(c) for c in arg.choices]
    elif t == "domain":
        f.type, f.options = "list-single", [forms.Option(d) for d in domains]
    f.validate = rules(arg)  # XEP-0122: what the registry will check again
    f.values = _default_values(arg, default if default is not None else arg.default)
    return f


def raw_value(arg: Arg, values: list[str]) -> Any:
    """Checked form values as the registry's raw argument (it coerces them once more)."""
    if arg.type in ("jids", "list-multi"):
        return list(values)
    if arg.type == "text":
        return "\n".join(values)
    if arg.type == "bool":
        return forms.BOOLEAN_VALUES.get(values[0], False) if values else False
    return values[0] if values else ""


# -- results as data forms --------------------------------------------------------------------

def text_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def _value_field(var: str, value: Any, label: str | None = None) -> forms.Field:
    if isinstance(value, bool):
        return forms.Field(var, "boolean", label=label, values=[text_value(value)])
    if isinstance(value, (list, tuple)):
        return forms.Field(var, "text-multi", label=label, values=[text_value(v) for v in value])
    if isinstance(value, dict):  # a nested mapping: one "key: value" line each
        return forms.Field(var, "text-multi", label=label, values=[f"{k}: {text_value(v)}" for k, v in value.items()])
    text = text_value(value)
    if "\n" in text:
        return forms.Field(var, "text-multi", label=label, values=text.splitlines())
    return forms.Field(var, "text-single", label=label, values=[text])

def result_form(cmd: Command, result: Any) -> forms.Form | None:
    """A registry result (already JSON-shaped or not) as an XEP-0004 form of type 'result'."""
    result = to_json(result)
    if cmd.result == "none" or result is None:
        return None
    form = forms.Form(type="result", title=cmd.description)
    if cmd.result == "table" and isinstance(result, list):
        columns = list(cmd.columns) or sorted({k for row in result if isinstance(row, dict) for k in row})
        form.reported = [forms.Field(c, "text-single", label=c.replace("_", " ").capitalize()) for c in columns]
        form.items = [[forms.Field(c, None, values=_row_values(row.get(c))) for c in columns]
                      for row in result if isinstance(row, dict)]
    elif cmd.result == "dict" and isinstance(result, dict):
        form.fields = [_value_field(k, v, k.replace("_", " ").capitalize()) for k, v in result.items()]
    elif cmd.result == "list" and isinstance(result, list):
        form.fields = [forms.Field("result", "text-multi", label=cmd.description,
                                   values=[text_value(v) for v in result])]
    elif isinstance(result, dict):
        form.fields = [_value_field(k, v) for k, v in result.items()]
    else:
        form.fields = [_value_field("result", result, cmd.description)]
    return form


def _row_values(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [text_value(v) for v in value]
    return [text_value(value)]

