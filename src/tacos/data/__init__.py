"""Datasets: from the released files to manifests and decoded-audio stores.

In the order a run uses them: ``formats`` holds the releases' column layouts; ``fetch``
downloads and verifies the releases; ``tables`` reads their CSV/TSV files strictly, ``checks``
and ``report`` count every skipped row; the readers ``tacos_release``, ``clotho`` and
``audioset`` produce ``manifest.Clip`` records, which ``prepare`` writes per split; ``audio``
decodes files and ``store`` keeps a split's decoded audio in one HDF5 file. The embedded demo's
generator, which writes the releases' formats, is its own package, ``tacos.demo``.
"""
