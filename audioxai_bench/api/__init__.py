"""The contracts a plugin author reads in one sitting.

- :mod:`~audioxai_bench.api.hookspecs`: the four hooks a plugin implements;
- :mod:`~audioxai_bench.api.explainer`: :class:`Explainer`, :class:`BaseExplainer`, the
  representations and their "absent" input (``silence_of``);
- :mod:`~audioxai_bench.api.reference`: explaining relative to that reference exactly, by
  reparameterising the model's first layer (``relative_to``);
- :mod:`~audioxai_bench.api.metric`: :class:`EvalBatch`, :class:`MetricOutput`, :class:`Metric`,
  :class:`BaseMetric`;
- :mod:`~audioxai_bench.api.sonifier`: :class:`Sonifier`, :class:`BaseSonifier`;
- :mod:`~audioxai_bench.api.model`: :class:`ModelSpec`.

The package root re-exports what a plugin needs (``import audioxai_bench``).
"""
