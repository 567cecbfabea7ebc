"""A LightGBM text model, checked before LightGBM parses it.

LightGBM's own parser trusts its input in two ways that a crafted file can turn into a crash
of the whole serving process: with a ``tree_sizes`` line it parses the trees in parallel
threads, where any format error aborts the process instead of raising; and it never checks
that a tree's child and feature indices stay inside the tree and the feature list, which
prediction then follows into memory it does not own. So before LightGBM sees a model, this
module checks the header and every tree's arrays (sizes, index ranges, children after their
parent so no walk can loop) and drops the ``tree_sizes`` line, which makes LightGBM parse
sequentially and report errors as exceptions.
"""

from __future__ import annotations

from usina.errors import UnsafeModel

_VERSIONS = ("v2", "v3", "v4")


def check_lightgbm_text(data: bytes, model_class: str) -> str:
    """The model text, safe for ``lightgbm.Booster(model_str=...)``; else ``UnsafeModel``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad(model_class, "it is not UTF-8 text") from None
    head, sep, body = text.partition("\nTree=")
    if not sep:
        head, body = text.partition("\nend of trees")[0], ""
    lines = head.split("\n")
    if lines[0].strip() != "tree":
        raise _bad(model_class, "its header does not start with the line 'tree'")
    header = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    if header.get("version") not in _VERSIONS:
        raise _bad(model_class, f"its header has version {header.get('version')!r}")
    for key in ("num_class", "num_tree_per_iteration", "max_feature_idx"):
        _int(header, key, model_class, minimum=0 if key == "max_feature_idx" else 1)
    _int(header, "label_index", model_class, minimum=0)
    n_features = int(header["max_feature_idx"]) + 1
    names = header.get("feature_names", "").split()
    if len(names) != n_features:
        raise _bad(
            model_class,
            f"its header names {len(names)} features but max_feature_idx says {n_features}",
        )
    trees_text = body.partition("\nend of trees")[0]
    blocks = trees_text.split("\nTree=") if sep else []
    for number, block in enumerate(blocks):
        _check_tree(block, number, n_features, model_class)
    # Without tree_sizes LightGBM reads the trees one after the other and raises on errors.
    return "\n".join(line for line in text.split("\n") if not line.startswith("tree_sizes="))


def _check_tree(block: str, number: int, n_features: int, model_class: str) -> None:
    where = f"tree {number}"
    fields = dict(line.split("=", 1) for line in block.split("\n")[1:] if "=" in line)
    leaves = _int(fields, "num_leaves", model_class, minimum=1, where=where)
    num_cat = _int(fields, "num_cat", model_class, minimum=0, where=where)
    _ints(fields, "leaf_value", leaves, model_class, where, floats=True)
    if leaves == 1:
        return
    internal = leaves - 1
    split_feature = _ints(fields, "split_feature", internal, model_class, where)
    decision = _ints(fields, "decision_type", internal, model_class, where)
    threshold = fields.get("threshold", "").split()
    if len(threshold) != internal:
        raise _bad(model_class, f"{where} has {len(threshold)} thresholds, not {internal}")
    for node, side in enumerate(
        zip(
            _ints(fields, "left_child", internal, model_class, where),
            _ints(fields, "right_child", internal, model_class, where),
            strict=True,
        )
    ):
        for child in side:
            # Internal children come after their parent; leaves are ~index.
            if not (node < child < internal or -leaves <= child < 0):
                raise _bad(model_class, f"{where} node {node} points at child {child}")
        if not 0 <= split_feature[node] < n_features:
            raise _bad(model_class, f"{where} splits on feature {split_feature[node]}")
        # A categorical split's threshold indexes cat_boundaries.
        categorical = decision[node] & 1
        if categorical and (not threshold[node].isdigit() or int(threshold[node]) >= num_cat):
            raise _bad(model_class, f"{where} node {node} names a missing category set")
    if num_cat:
        bounds = _ints(fields, "cat_boundaries", num_cat + 1, model_class, where)
        cats = fields.get("cat_threshold", "").split()
        if bounds[0] != 0 or bounds[-1] != len(cats) or bounds != sorted(bounds):
            raise _bad(model_class, f"{where} has inconsistent category sets")
    if fields.get("is_linear", "0") != "0":
        for feature in _ints(fields, "leaf_features", None, model_class, where):
            if not 0 <= feature < n_features:
                raise _bad(model_class, f"{where} has a linear leaf on feature {feature}")


def _int(
    fields: dict[str, str], key: str, model_class: str, *, minimum: int, where: str = "header"
) -> int:
    raw = fields.get(key, "").strip()
    try:
        value = int(raw)
    except ValueError:
        raise _bad(model_class, f"its {where} has no integer {key} (found {raw[:20]!r})") from None
    if value < minimum:
        raise _bad(model_class, f"its {where} has {key}={value}")
    return value


def _ints(
    fields: dict[str, str],
    key: str,
    count: int | None,
    model_class: str,
    where: str,
    *,
    floats: bool = False,
) -> list[int]:
    items = fields.get(key, "").split()
    if count is not None and len(items) != count:
        raise _bad(model_class, f"{where} has {len(items)} {key} values, not {count}")
    try:
        if floats:
            [float(item) for item in items]
            return []
        return [int(item) for item in items]
    except ValueError:
        raise _bad(model_class, f"{where} has a malformed {key}") from None


def _bad(model_class: str, why: str) -> UnsafeModel:
    return UnsafeModel(
        f"the stored {model_class} is not a well-formed LightGBM model ({why}); it was not loaded"
    )
