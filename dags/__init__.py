"""Mercato's Airflow DAGs: one file per DAG, the file name is the ``dag_id``.

This folder is Airflow's DAG folder and also the importable package ``dags`` (declared in
``pyproject.toml``), so the DAG files share their assets and stage tasks through
``dags._common`` with a plain import, and the tests import them the same way.
``.airflowignore`` keeps Airflow from parsing the modules that define no DAG.
"""
