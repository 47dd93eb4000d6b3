"""The top layer: one function per pipeline stage (``pipeline.stages``), the ``mercato``
command line that calls them, the run summary and the demo. The Airflow DAGs call the same
stage functions."""
