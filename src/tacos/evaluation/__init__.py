"""Evaluation on AudioSet Strong: frame scores, PSDS1 and pAUROC, the results JSON.

In the order a run uses them: ``scoring`` runs ``tacos.inference`` over the eval clips and
writes ``scores`` files (and the ``collapse`` diagnostic); ``ground_truth`` builds the events per
query set; ``sed_metrics`` computes PSDS1 and pAUROC with the ``fast_engine`` (``change_points``
and ``curves``, numba) or the ``library_engine`` (sed_scores_eval), sharing ``metric_results``;
``report`` writes the results JSON.
"""
