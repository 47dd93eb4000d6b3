"""The raw gate of a source that sets bad rows aside one by one (sessions, ads, ratings, support,
campaigns).

Such a source's ``parse`` flags every row rule as ``ok_<column>`` and :func:`mark_rows` joins a
row's broken rules into ``row_problem``; landing keeps the good rows and writes the others to
``quarantine/rows-<batch>/rejected_rows.csv``. The suite has one critical check (the share of
bad rows: above ``MAX_BAD_SHARE`` the file looks broken and is refused whole) and one warning per
rule, so the report names each rule with its examples. Built once here, so every such source
words its report the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

#: Above this share of bad rows the batch is rejected whole instead of row by row.
MAX_BAD_SHARE = 0.10


@dataclass(frozen=True)
class RowRule:
    """One column's rule, phrased for the person reading the quarantine report."""

    column: str
    rule: str


def bad_share_check(rows: str, show: list[str], looks_like: str = "") -> Any:
    """Critical: at most ``MAX_BAD_SHARE`` of the ``rows`` (e.g. "sessions") are bad.

    ``looks_like`` names what a broken file usually is, e.g. "a shifted column, another export".
    """
    import great_expectations as gx

    why = f" ({looks_like})" if looks_like else ""
    return gx.expectations.ExpectColumnValuesToBeInSet(
        column="row_is_valid",
        value_set=[True],
        mostly=1.0 - MAX_BAD_SHARE,
        description=f"at most {MAX_BAD_SHARE:.0%} of the {rows} are bad",
        meta={
            "show": ["row_problem", *show],
            "explain": f"more than {MAX_BAD_SHARE:.0%} of the rows break a rule: the file "
            f"looks broken{why}, so none of it is loaded",
        },
    )


def rule_checks(rules: Iterable[RowRule], show: list[str]) -> list[Any]:
    """A warning per rule: the rows that break it are kept out of the warehouse."""
    import great_expectations as gx

    return [
        gx.expectations.ExpectColumnValuesToBeInSet(
            column=f"ok_{rule.column}",
            value_set=[True],
            severity="warning",
            description=f"{rule.column} is {rule.rule}",
            meta={
                "show": show,
                "example_column": rule.column,
                "explain": f"rows whose {rule.column} is not {rule.rule} are kept out of "
                "the warehouse (see rejected_rows.csv)",
            },
        )
        for rule in rules
    ]


def mark_rows(out: pd.DataFrame, rules: Iterable[RowRule]) -> pd.DataFrame:
    """Write each row's broken rules into ``row_problem`` (None for a good row) and
    ``row_is_valid``, from the ``ok_<column>`` flags of ``out`` (rules without a flag are skipped).

    A reason reads "<column> is '<value as delivered>', not <rule>" (or "is empty"), so the
    person reading ``rejected_rows.csv`` sees the value and the rule side by side.
    """
    problems: list[list[str]] = [[] for _ in range(len(out))]
    for rule in rules:
        flag = f"ok_{rule.column}"
        if flag not in out.columns:
            continue
        for i in np.flatnonzero(~out[flag].to_numpy(dtype=bool)):
            shown = out[rule.column].iloc[i] if rule.column in out.columns else None
            empty = shown is None or pd.isna(shown) or str(shown) == ""
            what = "is empty" if empty else f"is {str(shown)[:40]!r}"
            problems[i].append(f"{rule.column} {what}, not {rule.rule}")
    out["row_problem"] = pd.Series(
        ["; ".join(p) if p else None for p in problems], index=out.index, dtype=object
    )
    out["row_is_valid"] = out["row_problem"].isna()
    return out
