"""Fixtures shared by the integration areas: a data folder with a campaign and its uplift
champion (until the session's ``pipeline_home`` writes campaigns too)."""

from __future__ import annotations

import dataclasses

import pytest
from fixed_dates import END_DATE

from mercato.settings import Settings, get_settings

#: The generated campaign of the uplift tests (its arms: mens_e_mail, womens_e_mail, control).
CAMPAIGN = "spring_newsletter"


@pytest.fixture(scope="session")
def uplift_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A data folder where a generated campaign (6,000 customers) was ingested, its marts built
    and the uplift family trained once. Read only: copy it to change anything."""
    from pipeline import stages
    from warehouse.synthetic_campaigns import write_campaigns

    home = tmp_path_factory.mktemp("uplift") / "home"
    value = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
    value.ensure_dirs()
    write_campaigns(
        value.landing_dir / "campaigns.csv",
        end_date=END_DATE,
        n_customers=6000,
        campaign=CAMPAIGN,
        seed=11,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", value.tracking_uri)
        stages.ingest(value)
        stages.transform(value, select="+campaign_exposures +dim_campaigns")
        result = stages.train(value, "uplift")
    assert result["promoted"], result["decision"]
    return value
