"""JSON helpers: the ASCII-only encoding of X-Sidecar-Patch, strict parsing
of JWS parts, and RFC 7396 merge patches (how Sidecar applies a patch)."""

import copy
import json


def dumps_ascii(value):
    """Encodes value as compact JSON with every character above 0x7E
    escaped as \\uXXXX (surrogate pairs above U+FFFF); "/" is not escaped.

    Raises ValueError for NaN/Infinity and for strings that are not valid
    Unicode (lone surrogates), TypeError for values JSON cannot hold.
    """
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    # ensure_ascii escapes a lone surrogate as \udXXX, which Sidecar (and
    # every strict decoder) refuses: catch it here, at the write.
    json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return text


def _reject_constant(name):
    raise ValueError("non-standard JSON constant %s" % name)


def loads_strict(data):
    """Parses UTF-8 JSON bytes, refusing NaN/Infinity and invalid UTF-8.

    Raises ValueError (json.JSONDecodeError and UnicodeDecodeError are
    ValueErrors) or RecursionError.
    """
    return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)


def normalize(value):
    """Returns a deep copy of value as JSON would round-trip it, so that a
    later change to the caller's object does not change what was written."""
    return json.loads(json.dumps(value, allow_nan=False))


def merge_patch(target, patch):
    """Applies the RFC 7396 merge patch `patch` to `target` (not modified)
    and returns the result: a dict patch merges into target (into {} when
    target is not a dict), anything else replaces it."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, val in patch.items():
        if val is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), val)
    return out


def compose(a, b):
    """The one merge patch that does what merge patches a then b do
    (members of b replace those of a in place, new ones go last, dicts in
    both compose), or None when there is none: a member of a is None or
    not a dict and b's is a dict. Neither argument is modified."""
    out = dict(a)
    for key, val in b.items():
        if key in out and isinstance(val, dict):
            if not isinstance(out[key], dict):
                return None
            val = compose(out[key], val)
            if val is None:
                return None
        out[key] = val
    return out


def has_null_member(value):
    """Whether value holds None as a dict member, at any depth of dicts
    (what lists hold does not count)."""
    return isinstance(value, dict) and any(v is None or has_null_member(v) for v in value.values())
