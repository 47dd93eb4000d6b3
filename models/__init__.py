"""Model families (segmentation, recommendation, propensity), their metrics and the registry.

Each family module exposes ``build_<family>_data(settings)`` (training data from the warehouse
or Feast), ``train_<family>(data, settings)`` (evaluate, log an MLflow run, register, gate) and
``evaluate_<family>``. ``models.pyfunc`` holds the objects serving unwraps from the registry;
``models.registry`` moves the ``champion``/``challenger`` aliases. Nothing heavy is imported
here, so the CLI and DAGs can import this package cheaply.
"""
