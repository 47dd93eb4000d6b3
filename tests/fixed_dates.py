"""The one end date of every generated data set in the tests: results never depend on today."""

from __future__ import annotations

from datetime import date

#: The day after the last generated order. In the past, so the raw gate's "not in the future"
#: check holds on any day the tests run (and under a clock faked to later dates). It is the
#: last day the tests were run with data ending "today": the synthetic data is seasonal (busy
#: autumn, quiet summer), so the end date shapes what the models see in their hold-outs.
END_DATE = date(2026, 11, 28)
